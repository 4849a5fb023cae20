using Raft.Node;

namespace Raft.Queue;

/// <summary>One client session of the queue: numbers its requests and sends each to whichever node leads, retrying
/// it with the same number until it gets an answer. Thanks to the session (see <see cref="QueueCommand"/>) a retry
/// never applies a command twice, so every failure, even a timeout with an unknown outcome, can be retried.
/// Not thread-safe: a session has one request outstanding at a time; run more clients for more concurrency.</summary>
/// <remarks>It stands in for a network client: with one node per machine you would send the command to a node over
/// your own RPC and let that node call <c>ProposeAsync</c>; the session and the retry rules stay the same.</remarks>
public sealed class QueueClient(string clientId, IReadOnlyList<RaftNodeHost<QueueCommand, QueueResult>> nodes, long groupId = 1)
{
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(30);
    private long _sequence;

    /// <summary>The session's id.</summary>
    public string ClientId => clientId;

    /// <summary>How many times a request was sent again (after a leader change, a refusal or a timeout).</summary>
    public int Retries { get; private set; }

    /// <summary>Appends <paramref name="payload"/>; returns the stored item and the log index of the Enqueue.</summary>
    public Task<ProposeResult<QueueResult>> EnqueueAsync(string payload, CancellationToken cancellationToken = default) =>
        SendAsync(new Enqueue(clientId, ++_sequence, payload), cancellationToken);

    /// <summary>Takes the head item (null in the result when the queue is empty); also returns the Dequeue's log index.</summary>
    public Task<ProposeResult<QueueResult>> DequeueAsync(CancellationToken cancellationToken = default) =>
        SendAsync(new Dequeue(clientId, ++_sequence), cancellationToken);

    /// <summary>A linearizable read of the queue's length on the leader.</summary>
    public async Task<int> LengthAsync(CancellationToken cancellationToken = default)
    {
        var until = DateTime.UtcNow + GiveUpAfter;
        while (true)
        {
            try { return await (await LeaderAsync(cancellationToken)).QueryAsync((WorkQueue q) => q.Length, cancellationToken); }
            catch (Exception e) when (Retryable(e) && DateTime.UtcNow < until) { Retries++; }
            await Task.Delay(20, cancellationToken);
        }
    }

    private async Task<ProposeResult<QueueResult>> SendAsync(QueueCommand command, CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + GiveUpAfter;
        while (true)
        {
            try { return await (await LeaderAsync(cancellationToken)).ProposeAsync(command, cancellationToken); }
            catch (Exception e) when (Retryable(e) && DateTime.UtcNow < until) { Retries++; }
            // A short pause so a retry does not spin while the cluster elects a new leader.
            await Task.Delay(20, cancellationToken);
        }
    }

    // Not leader, refused, overwritten, timed out, or the outcome hidden by an installed snapshot: all safe to resend
    // (the session answers a resent request that did apply). Not retried: shutdown, a missing or faulted group, and StateMachineException
    // (the command was applied and threw; resending would get the same answer).
    private static bool Retryable(Exception e) =>
        e is NotLeaderException or ProposalDroppedException or ProposalLostException or RaftTimeoutException or OutcomeUnknownException;

    private async Task<RaftGroup<QueueCommand, QueueResult>> LeaderAsync(CancellationToken cancellationToken)
    {
        var groups = nodes.Select(n => n.GetGroup(groupId)).ToArray();
        if (groups.FirstOrDefault(g => g.Status.IsLeader) is { } leader) return leader;
        var id = await groups[0].WaitForLeaderAsync(GiveUpAfter, cancellationToken);
        return groups.FirstOrDefault(g => g.NodeId == id) ?? groups[0];
    }
}
