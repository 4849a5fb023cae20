using Microsoft.AspNetCore.Http;
using Raft.MultiRaft;
using Raft.Node;

namespace Raft.Server;

/// <summary>The library's failures as <c>application/problem+json</c> answers, the same on every example server:
/// no leader 503 with <c>Retry-After</c>, timeouts 504, refused placements 409, bad arguments 400.</summary>
public static class ServerProblems
{
    /// <summary>Runs a call and maps the library's failures to problem documents; a name this node does not replicate
    /// is answered by <paramref name="forward"/> (usually a <see cref="ServerForward"/> to the group's members).</summary>
    public static async Task<IResult> Answer(string subject, Func<Task<IResult>> call, Func<NotPlacedHereException, IResult> forward)
    {
        try { return await call(); }
        catch (NotPlacedHereException e) { return forward(e); }
        catch (PlacementException e) when (e.Reason == "not a member") { return Problem(404, "no such member", e.Message); }
        catch (PlacementException e) { return Problem(409, "placement refused", e.Message); }
        catch (ArgumentException e) { return Problem(400, "bad request", e.Message); }
        catch (NotLeaderException e) { return Unavailable(subject, e.Message); }
        catch (ProposalDroppedException e) { return Unavailable(subject, e.Message); }
        catch (RaftTimeoutException e) { return Problem(504, "timed out", $"{subject}: {e.Message} (the write may still take effect)"); }
        catch (TimeoutException e) { return Problem(504, "timed out", $"{subject}: {e.Message}"); }
        catch (RaftShutdownException e) { return Unavailable(subject, e.Message); }
        catch (ForwardingFailedException e) { return Problem(504, "outcome unknown", $"{subject}: {e.Message}"); }
        catch (OutcomeUnknownException e) { return Problem(504, "outcome unknown", $"{subject}: {e.Message}"); }
        catch (RaftException e) { return Problem(503, "not done", $"{subject}: {e.Message}"); }
    }

    /// <summary>A 503 with <c>Retry-After: 1</c>: no leader (yet), try again.</summary>
    public static IResult Unavailable(string subject, string why) => new RetryAfter(Problem(503, "no leader", $"{subject}: {why}"));

    /// <summary>A problem document.</summary>
    public static IResult Problem(int status, string title, string detail) => Results.Problem(detail, statusCode: status, title: title);

    /// <summary>Adds <c>Retry-After: 1</c> to another answer.</summary>
    private sealed class RetryAfter(IResult inner) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.Headers.RetryAfter = "1";
            return inner.ExecuteAsync(http);
        }
    }
}
