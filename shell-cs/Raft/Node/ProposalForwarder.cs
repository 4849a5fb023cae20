using System.Diagnostics;
using MessagePack;
using Raft.Serialization;

namespace Raft.Node;

/// <summary>
/// Proposal forwarding (loop thread only): a follower whose core refuses proposals because another node leads sends
/// them to that leader as one request; the leader proposes them like its own callers' and answers each with its
/// outcome, which completes the follower's caller. Requests and answers leave through the loop's
/// <see cref="Outbox{TCommand}"/>. A forwarded proposal is never forwarded again, never chased to a new leader. When
/// leadership moves before the answer, the old leader still answers what it appended once the new leader's log decides
/// it (applied, or lost: overwritten, never to apply), and what it had not appended with NotLeaderException; the
/// follower waits for that answer for a grace period (two election timeouts) and only then fails the caller with
/// ForwardingFailedException (outcome unknown): a leadership transfer, the common move, ends with a definite outcome.
/// </summary>
internal sealed class ProposalForwarder<TCommand, TResult>
{
    private readonly long _nodeId;
    private readonly long _maxRequestBytes;
    private readonly MessagePackSerializerOptions _serializer;
    private readonly Outbox<TCommand> _outbox;
    private readonly RaftMetrics _metrics;
    private readonly Func<TCommand, int> _measure;
    private readonly Action<PendingProposal<TCommand, TResult>> _propose;
    private readonly long _graceTicks;
    /// <summary>Requests this node forwarded and still waits for, by request id.</summary>
    private readonly Dictionary<long, ForwardRequest> _forwarded = new();
    // Ids start at the clock, not at 1: an answer the leader queued for this node's previous incarnation may arrive after
    // a restart and must not complete a new request that happens to reuse its id.
    private long _nextId = DateTime.UtcNow.Ticks;
    private volatile bool _stopped;

    /// <param name="nodeId">This node.</param>
    /// <param name="maxRequestBytes">The most command bytes per request (at least one command each), so a long queue
    /// of proposals never makes a frame over the transport's cap.</param>
    /// <param name="serializer">Serializes results on the leader and reads them on the follower.</param>
    /// <param name="outbox">The loop's one send path.</param>
    /// <param name="metrics">Counts forwarded proposals.</param>
    /// <param name="measure">A command's serialized size (throws when it cannot be serialized).</param>
    /// <param name="propose">Queues a forwarded proposal on the leader like a local caller's.</param>
    /// <param name="graceTicks">How long, after the leader moved, a request still waits for the old leader's answer.</param>
    public ProposalForwarder(long nodeId, long maxRequestBytes, MessagePackSerializerOptions serializer, Outbox<TCommand> outbox,
        RaftMetrics metrics, Func<TCommand, int> measure, Action<PendingProposal<TCommand, TResult>> propose, long graceTicks)
    {
        _graceTicks = Math.Max(1, graceTicks);
        _nodeId = nodeId;
        _maxRequestBytes = maxRequestBytes;
        _serializer = serializer;
        _outbox = outbox;
        _metrics = metrics;
        _measure = measure;
        _propose = propose;
    }

    private sealed class ForwardRequest(long id, GroupRuntime<TCommand, TResult> group, long leader, PendingProposal<TCommand, TResult>[] proposals)
    {
        public readonly long Id = id;
        public readonly GroupRuntime<TCommand, TResult> Group = group;
        public readonly long Leader = leader;
        public readonly PendingProposal<TCommand, TResult>[] Proposals = proposals;
        public int Unanswered = proposals.Length;
        /// <summary>Once leadership moved away from <see cref="Leader"/>: the tick the request stops waiting for its answer.</summary>
        public long GraceEndsTick = long.MaxValue;
        /// <summary>The leader the follower learned of when it moved (0: none yet).</summary>
        public long MovedTo;
    }

    public bool Waiting => _forwarded.Count > 0;

    // ---- follower side ------------------------------------------------------------------------------------------

    /// <summary>Sends the batch's own callers' proposals to <paramref name="leader"/>; those that arrived forwarded
    /// fail with <paramref name="notLeader"/>. Returns false when nothing was forwarded (the caller fails them all).</summary>
    public bool Forward(GroupRuntime<TCommand, TResult> g, PendingProposal<TCommand, TResult>[] batch, long leader, Exception notLeader)
    {
        var proposals = OwnCallers(batch, notLeader);
        if (proposals.Length == 0) return false;
        var start = 0;
        while (start < proposals.Length)
        {
            var end = start + 1;
            long bytes = proposals[start].Size;
            while (end < proposals.Length && bytes + proposals[end].Size <= _maxRequestBytes) bytes += proposals[end++].Size;
            var part = start == 0 && end == proposals.Length ? proposals : proposals[start..end];
            var id = ++_nextId;
            _forwarded[id] = new ForwardRequest(id, g, leader, part);
            var commands = new TCommand[part.Length];
            string?[]? traces = null;
            for (var i = 0; i < commands.Length; i++)
            {
                var p = part[i];
                commands[i] = p.Command;
                if (p.Activity is not { } propose) continue;
                p.ForwardActivity = RaftTracing.Start("raft.forward", ActivityKind.Client, g.GroupId, _nodeId, propose.Context);
                p.ForwardActivity?.SetTag("raft.leader", leader);
                (traces ??= new string?[commands.Length])[i] = RaftTracing.TraceParent(p.ForwardActivity);
            }
            _outbox.Add(leader, RaftEnvelope<TCommand>.ForHost(g.GroupId, new ForwardedProposals<TCommand>(id, commands, traces)));
            start = end;
        }
        _metrics.Forwarded(proposals.Length);
        return true;
    }

    /// <summary>The batch's proposals from this node's own callers; those that arrived forwarded fail with
    /// <paramref name="notLeader"/> (never forwarded or held a second time).</summary>
    public static PendingProposal<TCommand, TResult>[] OwnCallers(PendingProposal<TCommand, TResult>[] batch, Exception notLeader)
    {
        var own = 0;
        foreach (var p in batch)
            if (p.ForwardedFrom == 0) own++;
        if (own == batch.Length) return batch;
        var proposals = new PendingProposal<TCommand, TResult>[own];
        var n = 0;
        foreach (var p in batch)
            if (p.ForwardedFrom == 0) proposals[n++] = p;
            else p.Fail(notLeader);
        return proposals;
    }

    /// <summary>Completes the caller of one forwarded proposal with the leader's answer.</summary>
    private void OnOutcome(long from, GroupRuntime<TCommand, TResult> g, ForwardedOutcome<TCommand> outcome)
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
                p.Complete(new ProposeResult<TResult>(outcome.Index, outcome.Term, result));
                break;
            case ForwardStatus.NotLeader:
                p.Fail(new NotLeaderException(g.GroupId, _nodeId, outcome.LeaderHint == _nodeId ? 0 : outcome.LeaderHint));
                break;
            case ForwardStatus.ApplyFailed:
                p.Fail(new StateMachineException(g.GroupId, outcome.Index, new RaftException(outcome.Error ?? "the state machine failed")));
                break;
            case ForwardStatus.Lost:
                p.Fail(new ProposalLostException(g.GroupId, outcome.Index, 0, outcome.Term));
                break;
            default:
                p.Fail(new ForwardingFailedException(g.GroupId, from, outcome.Error ?? "unknown reason"));
                break;
        }
        if (--request.Unanswered == 0) _forwarded.Remove(outcome.RequestId);
    }

    /// <summary>A forwarded request the transport could not queue: its callers fail now rather than at their timeout.</summary>
    public void OnDropped(long peer, HostMessage<TCommand> message)
    {
        if (message is not ForwardedProposals<TCommand> request || !_forwarded.Remove(request.RequestId, out var forwarded)) return;
        var e = new ForwardingFailedException(forwarded.Group.GroupId, peer, "the leader could not be reached");
        foreach (var p in forwarded.Proposals) p.Fail(e);
    }

    /// <summary>The group's leader changed at <paramref name="tick"/>: requests sent to another node wait for the old
    /// leader's answer for the grace period only (the old leader may be gone), then fail (<see cref="Tick"/>). Not
    /// retried here: the old leader may have appended them, so only the caller can tell whether sending a command twice
    /// is safe.</summary>
    public void LeaderMoved(GroupRuntime<TCommand, TResult> g, long leader, long tick)
    {
        if (_forwarded.Count == 0) return;
        foreach (var r in _forwarded.Values)
        {
            if (!ReferenceEquals(r.Group, g)) continue;
            if (r.Leader == leader) { r.GraceEndsTick = long.MaxValue; continue; } // back with the node it was sent to
            if (r.GraceEndsTick == long.MaxValue) r.GraceEndsTick = tick + _graceTicks;
            if (leader != 0) r.MovedTo = leader;
        }
    }

    /// <summary>Once per tick: drops requests whose callers have all completed (timed out or cancelled) without an
    /// answer, and fails those whose old leader did not answer within the grace period.</summary>
    public void Tick(long tick)
    {
        if (_forwarded.Count == 0) return;
        Drop(static r => Array.TrueForAll(r.Proposals, static p => p.IsCompleted), null);
        Drop(r => r.GraceEndsTick <= tick, r => new ForwardingFailedException(r.Group.GroupId, r.Leader, r.MovedTo == 0
            ? "the leader was lost before it answered; the command may or may not have been applied"
            : $"leadership moved to node {r.MovedTo} and node {r.Leader} did not answer; the command may or may not have been applied"));
    }

    /// <summary>Fails the forwarded proposals of <paramref name="g"/> (of every group when null).</summary>
    public void FailAll(GroupRuntime<TCommand, TResult>? g, Exception e)
    {
        if (_forwarded.Count > 0) Drop(r => g is null || ReferenceEquals(r.Group, g), _ => e);
    }

    /// <summary>The node stops: no more answers are sent.</summary>
    public void Stop() => _stopped = true;

    private void Drop(Func<ForwardRequest, bool> which, Func<ForwardRequest, Exception>? why)
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

    // ---- leader side --------------------------------------------------------------------------------------------

    /// <summary>A forwarding message for group <paramref name="g"/>: a request (leader side) or an answer (follower side).</summary>
    public void OnMessage(long from, GroupRuntime<TCommand, TResult> g, HostMessage<TCommand> message)
    {
        switch (message)
        {
            case ForwardedProposals<TCommand> request:
                OnRequest(from, g, request);
                break;
            case ForwardedOutcome<TCommand> outcome:
                OnOutcome(from, g, outcome);
                break;
        }
    }

    /// <summary>Queues the forwarded commands like local proposals; each answers when it completes.</summary>
    private void OnRequest(long from, GroupRuntime<TCommand, TResult> g, ForwardedProposals<TCommand> request)
    {
        for (var slot = 0; slot < request.Commands.Length; slot++)
        {
            var command = request.Commands[slot];
            int size;
            try { size = _measure(command); }
            catch (Exception e)
            {
                Answer(from, g.GroupId, new ForwardedOutcome<TCommand>(request.RequestId, slot, ForwardStatus.Failed, 0, 0, null, e.Message, 0));
                continue;
            }
            var p = new ForwardedProposal<TCommand, TResult>(g, command, size, from, request.RequestId, slot, this);
            if (request.TraceParents?[slot] is { } trace)
            {
                p.Activity = RaftTracing.Start("raft.propose", ActivityKind.Server, g.GroupId, _nodeId, RaftTracing.Parse(trace));
                p.Activity?.SetTag("raft.forwarded_from", from);
            }
            if (g.Refusal is { } refused) p.Fail(refused);
            else _propose(p);
        }
    }

    /// <summary>Sends the outcome of a forwarded proposal back to the node that forwarded it (on the thread that
    /// completed it: the loop's).</summary>
    internal void Answer(ForwardedProposal<TCommand, TResult> p)
    {
        var task = p.Task;
        ForwardedOutcome<TCommand> Outcome(ForwardStatus status, long index, long term, byte[]? result, string? error, long hint) =>
            new(p.RequestId, p.Slot, status, index, term, result, error, hint);
        if (task.IsCompletedSuccessfully)
        {
            var r = task.Result;
            byte[] result;
            try { result = MessagePackSerializer.Serialize(r.Result, _serializer); }
            catch (Exception e)
            {
                Answer(p.ForwardedFrom, p.Group.GroupId, Outcome(ForwardStatus.Failed, r.Index, r.Term, null,
                    $"entry {r.Index} was applied but its result cannot be serialized: {e.Message}", 0));
                return;
            }
            Answer(p.ForwardedFrom, p.Group.GroupId, Outcome(ForwardStatus.Applied, r.Index, r.Term, result, null, 0));
            return;
        }
        var outcome = task.Exception?.InnerException switch
        {
            NotLeaderException e => Outcome(ForwardStatus.NotLeader, 0, 0, null, e.Message, e.LeaderHint),
            ProposalLostException e => Outcome(ForwardStatus.Lost, e.Index, e.AppliedTerm, null, e.Message, 0),
            StateMachineException e => Outcome(ForwardStatus.ApplyFailed, e.Index, 0, null, e.InnerException?.Message ?? e.Message, 0),
            { } e => Outcome(ForwardStatus.Failed, 0, 0, null, e.Message, 0),
            null => Outcome(ForwardStatus.Failed, 0, 0, null, "cancelled", 0),
        };
        Answer(p.ForwardedFrom, p.Group.GroupId, outcome);
    }

    // A lost answer leaves the follower's caller to its timeout, like a lost Raft message.
    private void Answer(long to, long groupId, ForwardedOutcome<TCommand> outcome)
    {
        if (!_stopped) _outbox.Add(to, RaftEnvelope<TCommand>.ForHost(groupId, outcome));
    }
}

/// <summary>A proposal a follower forwarded to this node (the leader): its outcome is answered to that follower.</summary>
internal sealed class ForwardedProposal<TCommand, TResult>(GroupRuntime<TCommand, TResult> group, TCommand command, int size, long from,
    long requestId, int slot, ProposalForwarder<TCommand, TResult> forwarder) : PendingProposal<TCommand, TResult>(group, command, size)
{
    public readonly long RequestId = requestId;
    public readonly int Slot = slot;
    /// <summary>While held for a leader (<see cref="GroupRequests{TCommand,TResult}.Hold"/>): the tick it fails at.</summary>
    public long HoldDeadlineTick = long.MaxValue;

    public override long ForwardedFrom => from;

    protected override void Completed() => forwarder.Answer(this);
}
