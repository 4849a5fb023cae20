using Raft.Node;

namespace Raft.KeyValue;

/// <summary>Sends proposals and reads to whichever node leads the group, following leader hints and retrying only
/// where a retry is safe. It stands in for a network client: with one node per machine you would send the command to
/// a node over your own RPC and let that node call <c>ProposeAsync</c>; the retry rules below stay the same.</summary>
public sealed class LeaderClient<TCommand, TResult, TMachine>(IReadOnlyList<RaftNodeHost<TCommand, TResult>> nodes, long groupId = 1)
    where TMachine : IStateMachine<TCommand, TResult>
{
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(15);

    /// <summary>Proposes <paramref name="command"/> on the leader. Retries when the command certainly was not
    /// applied (sent to a follower, refused, or overwritten by a new leader); a <see cref="RaftTimeoutException"/> is
    /// passed on, because the command may still commit and a blind retry could apply it twice.</summary>
    public Task<ProposeResult<TResult>> ProposeAsync(TCommand command, CancellationToken cancellationToken = default) =>
        OnLeaderAsync(g => g.ProposeAsync(command, cancellationToken), cancellationToken);

    /// <summary>A linearizable read on the leader: sees every command committed before it started.</summary>
    public Task<TRead> ReadAsync<TRead>(Func<TMachine, TRead> query, CancellationToken cancellationToken = default) =>
        OnLeaderAsync(g => g.QueryAsync(query, cancellationToken), cancellationToken);

    /// <summary>The group on the node that currently leads, waiting for an election if there is none.</summary>
    public async Task<RaftGroup<TCommand, TResult>> LeaderAsync(long hint = 0, CancellationToken cancellationToken = default)
    {
        var groups = nodes.Select(n => n.GetGroup(groupId)).ToArray();
        if (groups.FirstOrDefault(g => g.NodeId == hint && g.Status.IsLeader) is { } hinted) return hinted;
        if (groups.FirstOrDefault(g => g.Status.IsLeader) is { } leader) return leader;
        var id = await groups[0].WaitForLeaderAsync(GiveUpAfter, cancellationToken);
        return groups.FirstOrDefault(g => g.NodeId == id) ?? groups[0];
    }

    private async Task<T> OnLeaderAsync<T>(Func<RaftGroup<TCommand, TResult>, Task<T>> call, CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + GiveUpAfter;
        long hint = 0;
        while (true)
        {
            var group = await LeaderAsync(hint, cancellationToken);
            try { return await call(group); }
            catch (NotLeaderException e) when (DateTime.UtcNow < until) { hint = e.LeaderHint; }  // leadership moved
            catch (ProposalDroppedException) when (DateTime.UtcNow < until) { hint = 0; }          // refused: never appended
            catch (ProposalLostException) when (DateTime.UtcNow < until) { hint = 0; }             // overwritten: never committed
            // A short pause so a retry does not spin while the cluster elects a new leader.
            await Task.Delay(20, cancellationToken);
        }
    }
}
