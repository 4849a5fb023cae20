using MessagePack;
using Raft.Serialization;

namespace Raft.Node;

// Proposal forwarding: a follower whose core refuses proposals because another node leads sends them to that leader
// as one request; the leader proposes them like its own callers' and answers each with its outcome, which completes
// the follower's caller. Requests live on the loop; answers are sent from the thread that completes the leader's
// proposal. A forwarded proposal is never forwarded again: leadership moving meanwhile ends it with NotLeaderException
// (the old leader's answer, with the new hint) or ForwardingFailedException (the follower learned of the new leader
// first), never with a chase.
public sealed partial class RaftNodeHost<TCommand, TResult>
{
    /// <summary>Requests this node forwarded and still waits for, by request id (loop-owned).</summary>
    private readonly Dictionary<long, ForwardRequest> _forwarded = new();
    // Ids start at the clock, not at 1: an answer the leader queued for this node's previous incarnation may arrive after
    // a restart and must not complete a new request that happens to reuse its id.
    private long _nextForwardId = DateTime.UtcNow.Ticks;

    private sealed class ForwardRequest(long id, RaftGroup<TCommand, TResult> group, long leader, RaftGroup<TCommand, TResult>.PendingProposal[] proposals)
    {
        public readonly long Id = id;
        public readonly RaftGroup<TCommand, TResult> Group = group;
        public readonly long Leader = leader;
        public readonly RaftGroup<TCommand, TResult>.PendingProposal[] Proposals = proposals;
        public int Unanswered = proposals.Length;
    }

    /// <summary>Sends the batch's own callers' proposals to <paramref name="leader"/>; those that arrived forwarded
    /// fail with <paramref name="notLeader"/>. Returns false when nothing was forwarded (the caller fails them all).</summary>
    private bool Forward(RaftGroup<TCommand, TResult> g, RaftGroup<TCommand, TResult>.PendingProposal[] batch, long leader, Exception notLeader)
    {
        var proposals = OwnCallers(batch, notLeader);
        if (proposals.Length == 0) return false;
        // One request per MaxSizePerMsg bytes of commands (at least one command each), so a long queue of proposals
        // never makes a frame over the transport's cap.
        var start = 0;
        while (start < proposals.Length)
        {
            var end = start + 1;
            long bytes = proposals[start].Size;
            while (end < proposals.Length && bytes + proposals[end].Size <= Options.MaxSizePerMsg) bytes += proposals[end++].Size;
            var part = start == 0 && end == proposals.Length ? proposals : proposals[start..end];
            var id = ++_nextForwardId;
            _forwarded[id] = new ForwardRequest(id, g, leader, part);
            var commands = new TCommand[part.Length];
            for (var i = 0; i < commands.Length; i++) commands[i] = part[i].Command;
            SendHost(leader, g.GroupId, new ForwardedProposals<TCommand>(id, commands));
            start = end;
        }
        Metrics.Forwarded(proposals.Length);
        return true;
    }

    /// <summary>No leader is known (an election is on): the batch's proposals wait for one instead of failing. Own
    /// callers' timeouts still run; a forwarded one (its leader stepped down as the request arrived) gets a timeout here,
    /// so it is never held forever. Once a leader is known they are proposed again: accepted if this node leads, else own
    /// callers' are forwarded and forwarded ones answered with <see cref="NotLeaderException"/> naming the leader.</summary>
    private void HoldUntilLeader(RaftGroup<TCommand, TResult> g, RaftGroup<TCommand, TResult>.PendingProposal[] batch)
    {
        foreach (var p in batch)
            if (p.ForwardedFrom != 0) _deadlines.Add(p, g.GroupId, Options.RequestTimeout, "forwarded ProposeAsync");
        g.WaitingForLeader.AddRange(batch);
    }

    /// <summary>The batch's proposals from this node's own callers; those that arrived forwarded fail with
    /// <paramref name="notLeader"/> (never forwarded or held a second time).</summary>
    private static RaftGroup<TCommand, TResult>.PendingProposal[] OwnCallers(RaftGroup<TCommand, TResult>.PendingProposal[] batch, Exception notLeader)
    {
        var own = 0;
        foreach (var p in batch)
            if (p.ForwardedFrom == 0) own++;
        if (own == batch.Length) return batch;
        var proposals = new RaftGroup<TCommand, TResult>.PendingProposal[own];
        var n = 0;
        foreach (var p in batch)
            if (p.ForwardedFrom == 0) proposals[n++] = p;
            else p.Fail(notLeader);
        return proposals;
    }

    /// <summary>A leader is known again: the held proposals are proposed anew (to this node if it leads, otherwise
    /// forwarded), except those whose callers gave up meanwhile.</summary>
    private void ReleaseToLeader(RaftGroup<TCommand, TResult> g)
    {
        foreach (var p in g.WaitingForLeader)
            if (!p.IsCompleted) g.Incoming.Add(p);
        g.WaitingForLeader.Clear();
        if (g.Incoming.Count == 0 || g.InProposeList) return;
        g.InProposeList = true;
        _proposing.Add(g);
        Wake(); // the role change may come after this iteration proposed: make sure another iteration runs
    }

    private void SendHost(long to, long groupId, HostMessage<TCommand> message)
    {
        if (!_outbox.TryGetValue(to, out var list)) _outbox[to] = list = new List<RaftEnvelope<TCommand>>();
        if (list.Count == 0) _dirtyPeers.Add(to);
        list.Add(RaftEnvelope<TCommand>.ForHost(groupId, message));
    }

    private void OnHostMessage(long from, RaftGroup<TCommand, TResult> g, HostMessage<TCommand> message)
    {
        switch (message)
        {
            case ForwardedProposals<TCommand> request:
                OnForwardedProposals(from, g, request);
                break;
            case ForwardedOutcome<TCommand> outcome:
                OnForwardedOutcome(from, g, outcome);
                break;
        }
    }

    /// <summary>Leader side: queues the forwarded commands like local proposals; each answers when it completes.</summary>
    private void OnForwardedProposals(long from, RaftGroup<TCommand, TResult> g, ForwardedProposals<TCommand> request)
    {
        for (var slot = 0; slot < request.Commands.Length; slot++)
        {
            var command = request.Commands[slot];
            int size;
            try { size = MeasureCommand(command); }
            catch (Exception e)
            {
                Answer(from, g.GroupId, request.RequestId, slot, ForwardStatus.Failed, 0, 0, null, e.Message, 0);
                continue;
            }
            var p = new RaftGroup<TCommand, TResult>.PendingProposal(g, command, size) { ForwardedFrom = from };
            var (requestId, answerSlot) = (request.RequestId, slot);
            p.Task.ContinueWith(t => AnswerForwarded(from, g, requestId, answerSlot, t), CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            if (!Usable(g, p)) continue;
            g.Incoming.Add(p);
            if (!g.InProposeList)
            {
                g.InProposeList = true;
                _proposing.Add(g);
            }
        }
    }

    /// <summary>Sends the outcome of a forwarded proposal back to the node that forwarded it (any thread).</summary>
    private void AnswerForwarded(long to, RaftGroup<TCommand, TResult> g, long requestId, int slot, Task<ProposeResult<TResult>> task)
    {
        if (task.IsCompletedSuccessfully)
        {
            var r = task.Result;
            byte[] result;
            try { result = MessagePackSerializer.Serialize(r.Result, _serializer); }
            catch (Exception e)
            {
                Answer(to, g.GroupId, requestId, slot, ForwardStatus.Failed, r.Index, r.Term, null,
                    $"entry {r.Index} was applied but its result cannot be serialized: {e.Message}", 0);
                return;
            }
            Answer(to, g.GroupId, requestId, slot, ForwardStatus.Applied, r.Index, r.Term, result, null, 0);
            return;
        }
        switch (task.Exception?.InnerException)
        {
            case NotLeaderException e:
                Answer(to, g.GroupId, requestId, slot, ForwardStatus.NotLeader, 0, 0, null, e.Message, e.LeaderHint);
                break;
            case StateMachineException e:
                Answer(to, g.GroupId, requestId, slot, ForwardStatus.ApplyFailed, e.Index, 0, null, e.InnerException?.Message ?? e.Message, 0);
                break;
            case { } e:
                Answer(to, g.GroupId, requestId, slot, ForwardStatus.Failed, 0, 0, null, e.Message, 0);
                break;
        }
    }

    private void Answer(long to, long groupId, long requestId, int slot, ForwardStatus status, long index, long term, byte[]? result, string? error, long hint)
    {
        var outcome = new ForwardedOutcome<TCommand>(requestId, slot, status, index, term, result, error, hint);
        // A lost answer leaves the follower's caller to its timeout, like a lost Raft message.
        _transport.TrySend(to, [RaftEnvelope<TCommand>.ForHost(groupId, outcome)]);
    }

    /// <summary>Follower side: completes the caller of one forwarded proposal.</summary>
    private void OnForwardedOutcome(long from, RaftGroup<TCommand, TResult> g, ForwardedOutcome<TCommand> outcome)
    {
        if (!_forwarded.TryGetValue(outcome.RequestId, out var request) || request.Leader != from || !ReferenceEquals(request.Group, g)
            || (uint)outcome.Slot >= (uint)request.Proposals.Length)
            return;
        var p = request.Proposals[outcome.Slot];
        switch (outcome.Status)
        {
            case ForwardStatus.Applied:
                TResult result;
                try { result = MessagePackSerializer.Deserialize<TResult>(outcome.Result, _serializer); }
                catch (Exception e)
                {
                    p.Fail(new ForwardingFailedException(g.GroupId, from, $"entry {outcome.Index} was applied but its result cannot be deserialized: {e.Message}"));
                    break;
                }
                p.TrySetResult(new ProposeResult<TResult>(outcome.Index, outcome.Term, result));
                break;
            case ForwardStatus.NotLeader:
                p.Fail(new NotLeaderException(g.GroupId, NodeId, outcome.LeaderHint == NodeId ? 0 : outcome.LeaderHint));
                break;
            case ForwardStatus.ApplyFailed:
                p.Fail(new StateMachineException(g.GroupId, outcome.Index, new RaftException(outcome.Error ?? "the state machine failed")));
                break;
            default:
                p.Fail(new ForwardingFailedException(g.GroupId, from, outcome.Error ?? "unknown reason"));
                break;
        }
        if (--request.Unanswered == 0) _forwarded.Remove(outcome.RequestId);
    }

    /// <summary>A forwarded request the transport could not queue: its callers fail now rather than at their timeout.</summary>
    private void OnHostMessageDropped(long peer, HostMessage<TCommand> message)
    {
        if (message is not ForwardedProposals<TCommand> request || !_forwarded.Remove(request.RequestId, out var forwarded)) return;
        var e = new ForwardingFailedException(forwarded.Group.GroupId, peer, "the leader could not be reached");
        foreach (var p in forwarded.Proposals) p.Fail(e);
    }

    /// <summary>The group's leader changed: requests sent to another node get no answer they can trust to arrive (the old
    /// leader may be gone), so their callers fail now instead of at their timeout. Not retried here: the old leader may
    /// have appended them, so only the caller can tell whether sending a command twice is safe.</summary>
    private void OnLeaderMoved(RaftGroup<TCommand, TResult> g, long leader) =>
        DropForwarded(r => ReferenceEquals(r.Group, g) && r.Leader != leader, r => new ForwardingFailedException(g.GroupId, r.Leader,
            leader == 0 ? "the leader was lost before it answered; the command may or may not have been applied"
                : $"leadership moved to node {leader} before the answer; the command may or may not have been applied"));

    /// <summary>Drops requests whose callers have all completed (timed out or cancelled) without an answer.</summary>
    private void ForgetAnsweredForwards() =>
        DropForwarded(static r => Array.TrueForAll(r.Proposals, static p => p.IsCompleted), null);

    /// <summary>Fails the forwarded proposals of <paramref name="g"/> (of every group when null).</summary>
    private void FailForwarded(RaftGroup<TCommand, TResult>? g, Exception e) =>
        DropForwarded(r => g is null || ReferenceEquals(r.Group, g), _ => e);

    /// <summary>Removes the requests <paramref name="which"/> selects and fails their callers with what
    /// <paramref name="why"/> gives (null: leave the callers as they are).</summary>
    private void DropForwarded(Func<ForwardRequest, bool> which, Func<ForwardRequest, Exception>? why)
    {
        List<ForwardRequest>? dropped = null;
        foreach (var request in _forwarded.Values)
            if (which(request)) (dropped ??= new()).Add(request);
        if (dropped is null) return;
        foreach (var request in dropped)
        {
            _forwarded.Remove(request.Id);
            if (why is null) continue;
            var e = why(request);
            foreach (var p in request.Proposals) p.Fail(e);
        }
    }
}
