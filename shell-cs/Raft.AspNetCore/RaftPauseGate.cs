using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Raft.AspNetCore;

/// <summary>
/// The HTTP half of a chaos pause: while the node is paused (<see cref="Node.RaftNodeHost{TCommand,TResult}.Pause"/>),
/// requests are held as a frozen process would hold them, and answered 503 once <see cref="HoldTimeout"/> passes without
/// a resume; requests under the exempt prefixes (the admin endpoints, so the node can be resumed, and the status
/// document, so tools show the node as paused rather than gone) pass.
/// </summary>
public sealed class RaftPauseGate
{
    private volatile TaskCompletionSource? _paused;
    private readonly Action _pause;
    private readonly Action _resume;

    /// <param name="pause">Pauses the node itself.</param>
    /// <param name="resume">Resumes it.</param>
    /// <param name="holdTimeout">How long a request waits for a resume before it answers 503.</param>
    public RaftPauseGate(Action pause, Action resume, TimeSpan holdTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(holdTimeout, TimeSpan.Zero);
        _pause = pause;
        _resume = resume;
        HoldTimeout = holdTimeout;
    }

    /// <summary>How long a request waits for a resume before it answers 503.</summary>
    public TimeSpan HoldTimeout { get; }

    /// <summary>Whether the node is paused.</summary>
    public bool Paused => _paused is not null;

    /// <summary>Pauses the node and starts holding requests.</summary>
    public void Pause()
    {
        Interlocked.CompareExchange(ref _paused, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);
        _pause();
    }

    /// <summary>Resumes the node and lets the held requests go.</summary>
    public void Resume()
    {
        _resume();
        Interlocked.Exchange(ref _paused, null)?.TrySetResult();
    }

    /// <summary>Adds the middleware holding requests outside <paramref name="exempt"/> while paused.</summary>
    internal void Use(IApplicationBuilder app, params string[] exempt) => app.Use(async (http, next) =>
    {
        if (_paused is { } gate && !exempt.Any(p => http.Request.Path.StartsWithSegments(p)))
        {
            try { await gate.Task.WaitAsync(HoldTimeout, http.RequestAborted); }
            catch (TimeoutException)
            {
                await Results.Problem($"the node is paused (chaos) and was not resumed within {HoldTimeout}", statusCode: 503, title: "node paused")
                    .ExecuteAsync(http);
                return;
            }
        }
        await next(http);
    });
}
