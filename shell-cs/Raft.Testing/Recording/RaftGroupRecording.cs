using Raft.Node;

namespace Raft.Testing;

/// <summary>
/// Proposals and reads on a <see cref="RaftGroup{TCommand,TResult}"/>, recorded into a <see cref="HistoryRecorder{TInput,TOutput}"/>
/// as they happen. What the library's exceptions tell the client decides how an operation ends: refused before it
/// could apply (<see cref="NotLeaderException"/>, <see cref="ProposalDroppedException"/>, <see cref="ProposalLostException"/>)
/// is a failure; anything else (a timeout, a forwarding failure, an outcome a snapshot hid, a node shutting down) is
/// unknown, because the command may still commit. A read that throws is a failure: reads have no effect.
/// </summary>
public static class RaftGroupRecording
{
    /// <summary>Proposes <paramref name="command"/> on <paramref name="group"/> (any node: followers forward it) as
    /// client <paramref name="client"/>, recording it as <paramref name="input"/> with the output <paramref name="output"/>
    /// makes of the result. Exceptions reach the caller after they are recorded.</summary>
    public static async Task<ProposeResult<TResult>> ProposeAsync<TCommand, TResult, TInput, TOutput>(
        this HistoryRecorder<TInput, TOutput> recorder, int client, RaftGroup<TCommand, TResult> group, TCommand command,
        TInput input, Func<TResult, TOutput> output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(output);
        var handle = recorder.Invoke(client, input);
        try
        {
            var result = await group.ProposeAsync(command, cancellationToken).ConfigureAwait(false);
            recorder.Complete(handle, output(result.Result));
            return result;
        }
        catch (Exception e) when (e is NotLeaderException or ProposalDroppedException or ProposalLostException)
        {
            recorder.Fail(handle);
            throw;
        }
        catch
        {
            recorder.Unknown(handle);
            throw;
        }
    }

    /// <summary>Reads <paramref name="group"/>'s state machine linearizably (<see cref="RaftGroup{TCommand,TResult}.ReadAsync{TRead}(Func{IStateMachine{TCommand,TResult},TRead},CancellationToken)"/>,
    /// on the leader) as client <paramref name="client"/>, recording it as <paramref name="input"/> with what
    /// <paramref name="query"/> returned.</summary>
    public static async Task<TOutput> ReadAsync<TCommand, TResult, TInput, TOutput>(
        this HistoryRecorder<TInput, TOutput> recorder, int client, RaftGroup<TCommand, TResult> group, TInput input,
        Func<IStateMachine<TCommand, TResult>, TOutput> query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(query);
        var handle = recorder.Invoke(client, input);
        try
        {
            var value = await group.ReadAsync(query, cancellationToken).ConfigureAwait(false);
            recorder.Complete(handle, value);
            return value;
        }
        catch
        {
            recorder.Fail(handle);
            throw;
        }
    }
}
