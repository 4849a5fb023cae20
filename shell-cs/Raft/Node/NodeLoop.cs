using Microsoft.Extensions.Logging;
using Microsoft.FSharp.Collections;
using Raft.Core;
using Raft.Serialization;
using Raft.Storage;

namespace Raft.Node;

/// <summary>
/// The node's one loop: it owns every group's runtime and is the only thread that steps a core. An iteration takes
/// the inbox's inputs (proposals and reads, a due tick, peers' messages and group calls), hands each group's queued
/// proposals to its core as one batch, then finishes: applied indexes are fed back and reads served, the outbox goes to
/// the transport, the group commit makes the iteration's writes durable, and what waited for them (messages that may
/// only follow a write, Persisted) is carried out, until nothing is left.
/// </summary>
internal sealed class NodeLoop<TCommand, TResult>
{
    private readonly long _nodeId;
    private readonly RaftNodeOptions _options;
    private readonly NodeInbox<TCommand, TResult> _inbox;
    private readonly RaftMetrics _metrics;
    private readonly ILogger _log;
    private readonly Action<GroupRuntime<TCommand, TResult>, bool> _closed;
    private readonly Dictionary<long, GroupRuntime<TCommand, TResult>> _groups = new();
    private readonly List<GroupRuntime<TCommand, TResult>> _groupList = new();
    private readonly Iteration<TCommand, TResult> _iteration;
    private readonly EffectInterpreter<TCommand, TResult> _interpreter;
    private readonly GroupCommit<TCommand, TResult> _commit;
    private readonly Quiescence<TCommand, TResult> _quiescence;
    private List<DurableItem<TCommand, TResult>> _committing = new();
    private readonly List<(GroupRuntime<TCommand, TResult>, Exception)> _commitFailures = new();
    private List<(GroupRuntime<TCommand, TResult> Group, Input<TCommand> Input)> _spare = new();
    private readonly HashSet<long> _unreachableSent = new();
    private long _tick;

    /// <summary>A loop for the node; <paramref name="closed"/> is called once a removed group's storage may close, with whether to delete its data.</summary>
    public NodeLoop(long nodeId, RaftNodeOptions options, NodeInbox<TCommand, TResult> inbox, Outbox<TCommand> outbox,
        RaftMessageCodec<TCommand> codec, Func<TCommand, int> measure, MessagePack.MessagePackSerializerOptions serializer,
        RaftMetrics metrics, ILogger log, Action<RoleChangedEventArgs> roleChanged, Action<GroupRuntime<TCommand, TResult>, bool> closed)
    {
        _nodeId = nodeId;
        _options = options;
        _inbox = inbox;
        _metrics = metrics;
        _log = log;
        _closed = closed;
        _iteration = new Iteration<TCommand, TResult>(outbox);
        // Two election timeouts: long enough for a transfer's new leader to commit what the old one appended.
        Forwarder = new ProposalForwarder<TCommand, TResult>(nodeId, options.MaxSizePerMsg, serializer, outbox, metrics, measure, Queue, 2L * options.ElectionTicks);
        _quiescence = new Quiescence<TCommand, TResult>(nodeId, options.Quiescence, options.HeartbeatTicks, options.ElectionTicks, outbox);
        _interpreter = new EffectInterpreter<TCommand, TResult>(nodeId, options, codec, _iteration, Forwarder, _quiescence, metrics, log,
            () => _tick, roleChanged);
        _commit = new GroupCommit<TCommand, TResult>(metrics);
    }

    public ProposalForwarder<TCommand, TResult> Forwarder { get; }

    private volatile string? _storageFailure;

    /// <summary>Why the node's shared log stopped every group on it, or null (any thread).</summary>
    public string? StorageFailure => _storageFailure;

    private bool _waiting;

    // The pause gate (chaos: a node frozen as by a long GC pause): set while paused, completed and cleared on resume.
    private volatile TaskCompletionSource? _paused;

    /// <summary>Whether the loop is held at its gate (any thread).</summary>
    public bool Paused => _paused is not null;

    /// <summary>Holds the loop before its next iteration: nothing is stepped, ticked, sent or written until
    /// <see cref="Resume"/>; inputs queue meanwhile (a full inbox holds the transport's readers back). An iteration
    /// under way finishes first.</summary>
    public void Pause()
    {
        Interlocked.CompareExchange(ref _paused, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);
        _inbox.Wake();
    }

    /// <summary>Lets a paused loop go on with what queued meanwhile.</summary>
    public void Resume() => Interlocked.Exchange(ref _paused, null)?.TrySetResult();

    /// <summary>Waiting for input with none queued (tests on a fake clock advance it only when every loop is idle).</summary>
    public bool Idle => Volatile.Read(ref _waiting) && !_inbox.HasWork;

    /// <summary>Runs until the inbox is completed (stop) or <paramref name="stop"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                if (_paused is { } gate) await gate.Task.WaitAsync(stop).ConfigureAwait(false);
                RunIteration();
                // Re-arm the wake-up before looking for more work: a Wake() during the iteration (its WakeUp already
                // consumed) wrote nothing, and a tick then set its flag without waking anyone; it stayed set, so no later
                // tick woke the loop either. After this every Wake() writes a WakeUp.
                _inbox.Rearm();
                if (_inbox.HasWork) continue;
                Volatile.Write(ref _waiting, true);
                var more = await _inbox.WaitAsync().ConfigureAwait(false);
                Volatile.Write(ref _waiting, false);
                if (!more) break;
            }
            if (!stop.IsCancellationRequested) RunIteration(); // what was queued before the inbox completed
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        catch (Exception e)
        {
            NodeLog.LoopFailed(_log, e, _nodeId);
            throw;
        }
    }

    /// <summary>Adds a group before the loop runs (the caller holds the node's start gate).</summary>
    public void AddBeforeStart(GroupRuntime<TCommand, TResult> g) => Add(g);

    private void RunIteration()
    {
        _inbox.Rearm();
        if (_iteration.NextIteration.Count > 0)
        {
            var carried = _iteration.NextIteration;
            (_iteration.NextIteration, _spare) = (_spare, carried);
            foreach (var (g, input) in carried) Step(g, input);
            carried.Clear();
        }
        while (_inbox.TryTakeSubmission(out var s)) Admit(s);
        if (_inbox.TakeTick()) OnTick();
        var max = _options.MaxInputsPerIteration;
        for (var n = 0; n < max && _inbox.TryRead(out var work); n++) Handle(work);
        Finish();
    }

    private void Handle(NodeWork<TCommand, TResult> work)
    {
        switch (work)
        {
            case InboundBatch<TCommand, TResult> b:
                OnMessages(b.From, b.Envelopes);
                break;
            case Overflowed<TCommand, TResult> o:
                _inbox.OverflowTaken();
                Admit(o.Submission);
                break;
            case WakeUp<TCommand, TResult>:
                break;
            case GroupCall<TCommand, TResult> call:
                try { Carry(call); }
                catch (Exception e) { call.Done.TrySetException(e); }
                break;
            default:
                throw new InvalidOperationException($"The node loop does not know {work.GetType().Name}.");
        }
    }

    /// <summary>A proposal or read from user code (or a proposal forwarded by a follower).</summary>
    private void Admit(ISubmission<TCommand, TResult> submission)
    {
        var g = submission.Group;
        if (g.Refusal is { } refused)
        {
            submission.Fail(refused);
            return;
        }
        switch (submission)
        {
            case PendingProposal<TCommand, TResult> p:
                Queue(p);
                break;
            case PendingRead<TCommand, TResult> { Local: true } r:
                r.Run(g.StateMachine);
                break;
            case PendingRead<TCommand, TResult> r:
                var tag = g.Requests.Add(r);
                _quiescence.Wake(g, _tick);
                Step(g, Input<TCommand>.NewReadIndex(tag));
                break;
        }
    }

    private void Queue(PendingProposal<TCommand, TResult> p)
    {
        p.Group.Requests.Queue(p);
        _iteration.Propose(p.Group);
    }

    private void Carry(GroupCall<TCommand, TResult> call)
    {
        var g = call.Group;
        switch (call)
        {
            case OpenGroup<TCommand, TResult>:
                Add(g);
                break;
            case CloseGroup<TCommand, TResult> close:
                Remove(g, close.DeleteData, close.Done);
                return; // done once closed
            case Campaign<TCommand, TResult>:
                Step(g, Input<TCommand>.Campaign);
                break;
            case TransferLeadership<TCommand, TResult> t:
                if (g.Refusal is { } refused) t.Transfer.Fail(refused);
                else
                {
                    g.Requests.Add(t.Transfer);
                    _quiescence.Wake(g, _tick);
                    Step(g, Input<TCommand>.NewTransferLeadership(t.Transfer.Target));
                }
                break;
            case ProposeConfChange<TCommand, TResult> c:
                if (g.Refusal is { } refusedChange) c.Change.Fail(refusedChange);
                else
                {
                    var tag = g.Requests.Add(c.Change);
                    _quiescence.Wake(g, _tick);
                    Step(g, Input<TCommand>.NewProposeConfChange(tag, c.Change.Change));
                }
                break;
        }
        call.Done.TrySetResult();
    }

    private void OnMessages(long from, RaftEnvelope<TCommand>[] batch)
    {
        _quiescence.Heard(from, _tick);
        foreach (var envelope in batch)
        {
            if (envelope.GroupId < 0) continue; // node-level liveness ping
            if (!_groups.TryGetValue(envelope.GroupId, out var g))
            {
                NodeLog.UnknownGroup(_log, envelope.GroupId, from);
                continue;
            }
            if (envelope.Host is { } host)
            {
                Forwarder.OnMessage(from, g, host);
                continue;
            }
            var m = envelope.Message;
            if (m.From != from) continue; // a node may only speak for itself
            if (g.Quiescent && !IsHeartbeat(m.Body))
            {
                // A vote request from a peer that noticed the leader's silence first: if this node noticed it too, the
                // group's timer catches up, so it can grant the vote instead of still holding the leader's lease.
                var orphaned = _quiescence.LeaderSilent(g, _tick);
                _quiescence.Wake(g, _tick);
                if (orphaned) CatchUp(g);
            }
            _metrics.Received(m);
            Step(g, Input<TCommand>.NewReceive(m));
        }
    }

    private static bool IsHeartbeat(MessageBody<TCommand> body) =>
        body.Tag is MessageBody<TCommand>.Tags.Heartbeat or MessageBody<TCommand>.Tags.HeartbeatResponse;

    private void OnTick()
    {
        _tick++;
        Forwarder.Tick(_tick);
        var tick = Input<TCommand>.Tick;
        var idleSince = _tick - 2L * _options.ElectionTicks;
        foreach (var g in _quiescence.Awake(_groupList))
        {
            if (g.Quiescent) continue;
            Step(g, tick);
            // Snapshots no transfer read from for two election timeouts: finished or abandoned transfers.
            g.Sources.CloseIdle(idleSince);
            g.Requests.ExpireHeld(_tick, _options.RequestTimeout);
        }
        _quiescence.Update(_tick, _groupList);
        foreach (var g in _quiescence.Orphaned) CatchUp(g);
        _quiescence.Orphaned.Clear();
    }

    /// <summary>Ticks a follower woken by its leader's silence through the ticks it missed while quiescent.</summary>
    private void CatchUp(GroupRuntime<TCommand, TResult> g)
    {
        var tick = Input<TCommand>.Tick;
        for (var i = 0; i < _quiescence.MissedTicks && !g.Closed && g.Fault is null; i++) Step(g, tick);
    }

    /// <summary>Feeds one input to a group's core and carries out its effects; the inputs the interpreter produced at
    /// once (loaded entries, saved snapshots, read chunks) follow before returning.</summary>
    private void Step(GroupRuntime<TCommand, TResult> g, Input<TCommand> input)
    {
        if (g.Closed) return;
        var feedback = _iteration.Feedback;
        var next = input;
        while (true)
        {
            try
            {
                var (state, effects) = RaftNode.Step(g.State, next);
                g.State = state;
                foreach (var effect in effects) _interpreter.Interpret(g, effect);
            }
            catch (Exception e)
            {
                feedback.Clear();
                Fault(g, e);
                return;
            }
            if (!feedback.TryDequeue(out next!)) break;
        }
        g.PublishStatus();
    }

    /// <summary>Hands each group's queued proposals to its core as one Propose input.</summary>
    private void ProposeQueued()
    {
        var proposing = _iteration.Proposing;
        // By index: a step here may queue another group (a role change releasing proposals held for a leader).
        for (var next = 0; next < proposing.Count; next++)
        {
            var g = proposing[next];
            g.Proposing = false;
            if (!g.Requests.HasQueued) continue;
            var proposal = g.Requests.TakeBatch(out var count);
            if (g.Refusal is { } refused)
            {
                g.Requests.Undecided(refused);
                continue;
            }
            _quiescence.Wake(g, _tick);
            _metrics.Proposed(count);
            Step(g, Input<TCommand>.NewPropose(proposal));
            // The core neither accepted nor dropped it (a faulted step): nothing will complete it later.
            g.Requests.Undecided(g.Fault is { } f ? new GroupFaultedException(g.GroupId, f) : new ProposalDroppedException(g.GroupId, DropReason.LeadershipLost));
        }
        proposing.Clear();
    }

    /// <summary>Carries out what the iteration produced until nothing is left: proposals, applied feedback and reads,
    /// sends (the leader's appends leave before its own fsync, thesis §10.2.1), then the group commit and what
    /// waited for it.</summary>
    private void Finish()
    {
        while (true)
        {
            if (_iteration.Proposing.Count > 0) ProposeQueued();
            var applied = _iteration.Applied;
            for (var i = 0; i < applied.Count; i++)
            {
                var g = applied[i];
                g.AppliedSinceFeedback = false;
                Step(g, Input<TCommand>.NewApplied(g.AppliedIndex));
                g.Requests.ServeReads(g.AppliedIndex, g.StateMachine);
            }
            applied.Clear();
            _iteration.Outbox.Flush(OnSendDropped);
            if (_iteration.Durable.Count == 0)
            {
                if (_iteration.Proposing.Count == 0) break;
                continue;
            }
            (_committing, _iteration.Durable) = (_iteration.Durable, _committing);
            _commit.Run(_committing, _commitFailures);
            foreach (var (g, e) in _commitFailures) Fault(g, e);
            foreach (var (g, _) in _commitFailures)
                if (g.Storage.Log is SharedGroupLog { Log.Failure: { } failure } view) StopSharedLog(view.Log, failure);
            _commitFailures.Clear();
            OnDurable(_committing);
            _committing.Clear();
        }
    }

    private void OnDurable(List<DurableItem<TCommand, TResult>> batch)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            var item = batch[i];
            if (item.ClosesGroup) continue;
            foreach (var m in item.ThenSend) _iteration.Outbox.Send(item.Group.GroupId, m);
            if (!item.HasEntries) continue;
            // Consecutive writes of one group: Persisted for the last is enough (it covers the earlier ones).
            if (i + 1 < batch.Count && ReferenceEquals(batch[i + 1].Group, item.Group) && batch[i + 1].HasEntries && batch[i + 1].ThenSend.IsEmpty) continue;
            // Before the step: on a single node the step commits and applies, completing the proposals it covers.
            if (_metrics.PersistLatencyEnabled) item.Group.Requests.Persisted(item.Last.Index);
            Step(item.Group, Input<TCommand>.NewPersisted(item.Last));
        }
    }

    private void OnSendDropped(long peer, RaftEnvelope<TCommand>[] batch)
    {
        _metrics.SendDropped(batch.Length);
        NodeLog.SendDropped(_log, batch.Length, peer);
        // Tell the leaders whose appends were dropped, so they probe instead of streaming into a void (next iteration).
        _unreachableSent.Clear();
        foreach (var e in batch)
        {
            if (e.Host is not null) Forwarder.OnDropped(peer, e.Host);
            else if (e.Message.Body.Tag == MessageBody<TCommand>.Tags.AppendEntries && _unreachableSent.Add(e.GroupId)
                && _groups.TryGetValue(e.GroupId, out var g))
                _iteration.NextIteration.Add((g, Input<TCommand>.NewUnreachable(peer)));
        }
    }

    private void Add(GroupRuntime<TCommand, TResult> g)
    {
        _groups.Add(g.GroupId, g);
        _groupList.Add(g);
        _quiescence.Added(g, _tick);
        g.PublishStatus();
    }

    private void Remove(GroupRuntime<TCommand, TResult> g, bool deleteData, TaskCompletionSource done)
    {
        if (g.Removed)
        {
            done.TrySetResult();
            return;
        }
        g.Removed = true;
        _groups.Remove(g.GroupId);
        _groupList.Remove(g);
        _quiescence.Removed(g);
        Release(g, new RaftShutdownException($"Group {g.GroupId} was removed."));
        // Close the storage once every write queued before this point is durable.
        _iteration.Durable.Add(DurableItem<TCommand, TResult>.Close(g));
        g.OnClosed = () =>
        {
            try
            {
                _closed(g, deleteData);
                done.TrySetResult();
            }
            catch (Exception e) { done.TrySetException(e); }
        };
    }

    /// <summary>The shared log under several groups failed a write or fdatasync: what reached its disk is unknown, so
    /// every group on it stops now, not only those that wrote in the failed round (an idle one would otherwise go on
    /// answering from a log that may have lost a suffix until its next write).</summary>
    private void StopSharedLog(SharedLog log, Exception failure)
    {
        var stopped = 0;
        foreach (var other in _groupList)
            if (other.Fault is null && other.Storage.Log is SharedGroupLog view && ReferenceEquals(view.Log, log))
            {
                Fault(other, new StorageException($"The node's shared log in '{log.Directory}' failed: {failure.Message}", log.Directory, failure));
                stopped++;
            }
        if (stopped > 0) NodeLog.SharedLogFailed(_log, failure, log.Directory, stopped, _nodeId);
        _storageFailure ??= $"The shared log in '{log.Directory}' failed: {failure.Message}";
    }

    private void Fault(GroupRuntime<TCommand, TResult> g, Exception e)
    {
        if (g.Fault is not null) return;
        g.Fault = e;
        _metrics.GroupFaulted();
        NodeLog.GroupFaulted(_log, e, g.GroupId, _nodeId);
        Release(g, new GroupFaultedException(g.GroupId, e));
    }

    /// <summary>Fails what the group's callers wait for and closes its snapshot files (an incoming transfer's durable
    /// chunks stay, so it resumes when the group is opened again).</summary>
    private void Release(GroupRuntime<TCommand, TResult> g, Exception e)
    {
        g.Requests.FailAll(e);
        Forwarder.FailAll(g, e);
        g.Receiver.Close();
        g.Sources.CloseAll();
    }

    /// <summary>After the loop stopped: fails everything still pending and closes every group's storage.</summary>
    public void Shutdown(Exception e)
    {
        Forwarder.Stop();
        Forwarder.FailAll(null, e);
        foreach (var g in _groupList)
        {
            Release(g, e);
            g.Storage.Dispose();
        }
    }
}
