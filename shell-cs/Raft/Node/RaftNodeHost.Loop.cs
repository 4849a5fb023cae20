using Microsoft.FSharp.Collections;
using Raft.Core;
using Raft.Serialization;

namespace Raft.Node;

public sealed partial class RaftNodeHost<TCommand, TResult>
{
    // Everything below is owned by the loop.
    private readonly List<RaftGroup<TCommand, TResult>> _groupList = new();
    // The groups that are not quiescent, rebuilt when a group is added, removed, quiesced or woken: with thousands of
    // idle groups a tick then touches none of them (walking them all costs a cache miss per group per tick).
    private readonly List<RaftGroup<TCommand, TResult>> _awake = new();
    private bool _awakeStale = true;
    private readonly Dictionary<long, RaftGroup<TCommand, TResult>> _loopGroups = new();
    private readonly List<RaftGroup<TCommand, TResult>> _proposing = new();
    private readonly List<RaftGroup<TCommand, TResult>> _appliedDirty = new();
    private readonly Queue<Input<TCommand>> _feedback = new();
    private readonly Dictionary<long, List<RaftEnvelope<TCommand>>> _outbox = new();
    private readonly List<long> _dirtyPeers = new();
    private List<DurableItem<TCommand, TResult>> _durable = new(), _flushing = new();
    private readonly Dictionary<long, long> _lastHeard = new();
    private readonly HashSet<long> _unreachableSent = new();
    private long _tick;

    private async Task LoopAsync()
    {
        var reader = _channel.Reader;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                RunIteration(reader);
                // Re-arm the wake-up before looking for more work: a Wake() that found _wakePending set during the
                // iteration (its Wake item already consumed) wrote nothing, and a timer tick then set _tickPending
                // without waking anyone; it stayed set, so no later tick woke the loop either (a node stopped ticking
                // until a message arrived; a fresh cluster never elected). After this reset every Wake() writes an item.
                Interlocked.Exchange(ref _wakePending, 0);
                if (reader.TryPeek(out _) || !_internal.IsEmpty || !_submitted.IsEmpty || Volatile.Read(ref _tickPending) == 1) continue;
                // No token: a cancellable wait allocates a waiter every time, an uncancellable one reuses the channel's.
                // Stopping completes the writer, which ends this wait; a cancelled stop is seen at the top of the loop.
                if (!await reader.WaitToReadAsync().ConfigureAwait(false)) break;
            }
            if (!_stop.IsCancellationRequested) RunIteration(reader); // what was queued before the writer completed
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested) { }
        catch (Exception e)
        {
            NodeLog.LoopFailed(_log, e, NodeId);
            throw;
        }
    }

    private void RunIteration(System.Threading.Channels.ChannelReader<Work> reader)
    {
        Volatile.Write(ref _wakePending, 0);
        while (_internal.TryDequeue(out var w)) Handle(w);
        while (_submitted.TryDequeue(out var w))
        {
            Interlocked.Decrement(ref _submittedCount);
            Handle(w);
        }
        if (Interlocked.Exchange(ref _tickPending, 0) == 1) OnTick();
        var max = Options.MaxInputsPerIteration;
        for (var n = 0; n < max && reader.TryRead(out var w); n++) Handle(w);
        ProposeQueued();
        FinishIteration();
    }

    private void Handle(in Work w)
    {
        switch (w.Kind)
        {
            case WorkKind.Messages:
                OnMessages(w.From, (RaftEnvelope<TCommand>[])w.Item!);
                break;
            case WorkKind.Propose:
            {
                var p = (RaftGroup<TCommand, TResult>.PendingProposal)w.Item!;
                var g = p.Group;
                if (!Usable(g, p)) break;
                g.Incoming.Add(p);
                if (!g.InProposeList)
                {
                    g.InProposeList = true;
                    _proposing.Add(g);
                }
                break;
            }
            case WorkKind.Read:
            {
                var r = (RaftGroup<TCommand, TResult>.PendingReadBase)w.Item!;
                var g = r.Group;
                if (!Usable(g, r)) break;
                r.Tag = ++g.NextTag;
                g.Reads[r.Tag] = r;
                WakeGroup(g);
                StepGroup(g, Input<TCommand>.NewReadIndex(r.Tag));
                break;
            }
            case WorkKind.Control:
                ((Action)w.Item!)();
                break;
            case WorkKind.Fault:
            {
                var (g, e) = ((RaftGroup<TCommand, TResult>, Exception))w.Item!;
                FaultGroup(g, e);
                break;
            }
            case WorkKind.Unreachable:
            {
                var g = (RaftGroup<TCommand, TResult>)w.Item!;
                StepGroup(g, Input<TCommand>.NewUnreachable(w.From));
                break;
            }
        }
    }

    internal bool Usable(RaftGroup<TCommand, TResult> g, IPending p)
    {
        if (g.Fault is { } fault) p.Fail(new GroupFaultedException(g.GroupId, fault));
        else if (g.Removed) p.Fail(new RaftShutdownException($"Group {g.GroupId} was removed."));
        else return true;
        return false;
    }

    private void OnMessages(long from, RaftEnvelope<TCommand>[] batch)
    {
        _lastHeard[from] = _tick;
        foreach (var envelope in batch)
        {
            if (envelope.GroupId < 0) continue; // node-level liveness ping
            if (!_loopGroups.TryGetValue(envelope.GroupId, out var g))
            {
                NodeLog.UnknownGroup(_log, envelope.GroupId, from);
                continue;
            }
            if (envelope.Host is { } host)
            {
                OnHostMessage(from, g, host);
                continue;
            }
            var m = envelope.Message;
            if (m.From != from) continue; // a node may only speak for itself
            if (g.Quiescent && !IsHeartbeat(m.Body)) WakeGroup(g);
            StepGroup(g, Input<TCommand>.NewReceive(m));
        }
    }

    private static bool IsHeartbeat(MessageBody<TCommand> body) =>
        body.Tag is MessageBody<TCommand>.Tags.Heartbeat or MessageBody<TCommand>.Tags.HeartbeatResponse;

    /// <summary>One Propose input per group per iteration, carrying every command queued since the last one.</summary>
    private void ProposeQueued()
    {
        // By index: a step here may queue another group (a role change releasing proposals held for a leader).
        for (var next = 0; next < _proposing.Count; next++)
        {
            var g = _proposing[next];
            g.InProposeList = false;
            if (g.Incoming.Count == 0) continue;
            var batch = g.Incoming.ToArray();
            g.Incoming.Clear();
            if (g.Fault is not null || g.Removed)
            {
                foreach (var p in batch) Usable(g, p);
                continue;
            }
            var commands = new ValueTuple<TCommand, int>[batch.Length];
            for (var i = 0; i < batch.Length; i++) commands[i] = (batch[i].Command, batch[i].Size);
            var tag = ++g.NextTag;
            g.CurrentBatch = batch;
            g.CurrentBatchTag = tag;
            WakeGroup(g);
            Metrics.Proposed(batch.Length);
            StepGroup(g, Input<TCommand>.NewPropose(new Proposal<TCommand>(tag, commands)));
            if (g.CurrentBatch is not null)
            {
                // The core neither accepted nor dropped it (a faulted step): nothing will complete it later.
                g.CurrentBatch = null;
                var e = g.Fault is { } f ? new GroupFaultedException(g.GroupId, f) : (Exception)new ProposalDroppedException(g.GroupId, DropReason.LeadershipLost);
                foreach (var p in batch) p.Fail(e);
            }
        }
        _proposing.Clear();
    }

    /// <summary>Sends what the iteration produced (the leader's appends leave before its own fsync, thesis §10.2.1),
    /// then makes the iteration's writes durable and carries out what waited for them, until nothing is left.</summary>
    private void FinishIteration()
    {
        while (true)
        {
            foreach (var g in _appliedDirty)
            {
                g.AppliedDirty = false;
                StepGroup(g, Input<TCommand>.NewApplied(g.AppliedIndex));
                ServeReads(g);
            }
            _appliedDirty.Clear();
            FlushSends();
            if (_durable.Count == 0) return;
            (_flushing, _durable) = (_durable, _flushing);
            _durability.Flush(_flushing);
            OnDurableBatch(_flushing);
            _flushing.Clear();
        }
    }

    /// <summary>Feeds one input to a group's core and carries out the effects; completions the host produces
    /// synchronously (loaded entries, saved snapshots) are fed back before returning.</summary>
    internal void StepGroup(RaftGroup<TCommand, TResult> g, Input<TCommand> input)
    {
        if (g.Removed || g.Fault is not null) return;
        var next = input;
        while (true)
        {
            FSharpList<Effect<TCommand>> effects;
            try
            {
                var (state, fx) = RaftNode.Step(g.State, next);
                g.State = state;
                effects = fx;
            }
            catch (Exception e)
            {
                FaultGroup(g, e);
                return;
            }
            try
            {
                foreach (var effect in effects) Interpret(g, effect);
            }
            catch (Exception e)
            {
                FaultGroup(g, e);
                return;
            }
            if (!_feedback.TryDequeue(out next!)) break;
        }
        if (g.IncomingSnapshot is not null && g.State.Incoming.IsNone)
        {
            // The core dropped a transfer its log overtook: the partial file and its record go too.
            g.IncomingSnapshot.Dispose();
            g.IncomingSnapshot = null;
        }
        g.PublishStatus();
    }

    private void OnDurableBatch(List<DurableItem<TCommand, TResult>> batch)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            var item = batch[i];
            foreach (var m in item.ThenSend) Send(item.Group, m);
            if (item.Index < 0) continue;
            // Consecutive writes of one group: Persisted for the last is enough (it covers the earlier ones).
            if (i + 1 < batch.Count && ReferenceEquals(batch[i + 1].Group, item.Group) && batch[i + 1].Index >= 0 && batch[i + 1].ThenSend.IsEmpty) continue;
            StepGroup(item.Group, Input<TCommand>.NewPersisted(new LogPosition(item.Index, item.Term)));
        }
    }

    private void Send(RaftGroup<TCommand, TResult> g, Message<TCommand> m)
    {
        if (!_outbox.TryGetValue(m.To, out var list)) _outbox[m.To] = list = new List<RaftEnvelope<TCommand>>();
        if (list.Count == 0) _dirtyPeers.Add(m.To);
        list.Add(new RaftEnvelope<TCommand>(g.GroupId, m));
    }

    private void FlushSends()
    {
        foreach (var peer in _dirtyPeers)
        {
            var list = _outbox[peer];
            var batch = list.ToArray();
            list.Clear();
            if (_transport.TrySend(peer, batch)) continue;
            Metrics.SendDropped(batch.Length);
            NodeLog.SendDropped(_log, batch.Length, peer);
            // Tell the leaders whose appends were dropped, so they probe instead of streaming into a void.
            _unreachableSent.Clear();
            foreach (var e in batch)
            {
                if (e.Host is not null)
                {
                    OnHostMessageDropped(peer, e.Host);
                    continue;
                }
                if (e.Message.Body.Tag == MessageBody<TCommand>.Tags.AppendEntries && _unreachableSent.Add(e.GroupId)
                    && _loopGroups.TryGetValue(e.GroupId, out var g))
                    _internal.Enqueue(new Work(WorkKind.Unreachable, peer, g));
            }
        }
        _dirtyPeers.Clear();
    }

    private void OnTick()
    {
        _tick++;
        var tick = Input<TCommand>.Tick;
        if (_forwarded.Count > 0) ForgetAnsweredForwards();
        if (_awakeStale)
        {
            _awake.Clear();
            foreach (var g in _groupList)
                if (!g.Quiescent) _awake.Add(g);
            _awakeStale = false;
        }
        foreach (var g in _awake)
        {
            if (g.Quiescent) continue;
            StepGroup(g, tick);
            if (g.SnapshotSources.Count > 0) CloseIdleSnapshotSources(g);
        }
        if (Options.Quiescence) UpdateQuiescence();
    }

    private void AddGroup(RaftGroup<TCommand, TResult> g)
    {
        _loopGroups.Add(g.GroupId, g);
        _groupList.Add(g);
        _awakeStale = true;
        g.LastActivityTick = _tick;
        foreach (var peer in g.Peers) _lastHeard.TryAdd(peer, _tick);
        g.PublishStatus();
    }

    private void RemoveGroup(RaftGroup<TCommand, TResult> g, bool deleteData, TaskCompletionSource closed)
    {
        if (g.Removed) { closed.TrySetResult(); return; }
        g.Removed = true;
        _loopGroups.Remove(g.GroupId);
        _groupList.Remove(g);
        _awakeStale = true;
        var removed = new RaftShutdownException($"Group {g.GroupId} was removed.");
        FailPending(g, removed);
        FailForwarded(g, removed);
        // Close the storage once every write queued before this point is durable.
        _durable.Add(new DurableItem<TCommand, TResult>(g, null, -2, 0, FSharpList<Message<TCommand>>.Empty));
        g.OnClosed = () =>
        {
            try
            {
                g.Storage.Dispose();
                if (deleteData) _storage.Delete(g.GroupId);
                _groups.TryRemove(g.GroupId, out _);
                NodeLog.GroupRemoved(_log, g.GroupId, NodeId);
                closed.TrySetResult();
            }
            catch (Exception e) { closed.TrySetException(e); }
        };
    }

    private void FaultGroup(RaftGroup<TCommand, TResult> g, Exception e)
    {
        if (g.Fault is not null) return;
        g.Fault = e;
        Metrics.GroupFaulted();
        NodeLog.GroupFaulted(_log, e, g.GroupId, NodeId);
        var faulted = new GroupFaultedException(g.GroupId, e);
        FailPending(g, faulted);
        FailForwarded(g, faulted);
    }

    private static void FailPending(RaftGroup<TCommand, TResult> g, Exception e)
    {
        foreach (var p in g.Incoming) p.Fail(e);
        g.Incoming.Clear();
        foreach (var p in g.WaitingForLeader) p.Fail(e);
        g.WaitingForLeader.Clear();
        while (g.Awaiting.Count > 0) g.Awaiting.RemoveFirst().Fail(e);
        foreach (var r in g.Reads.Values) r.Fail(e);
        g.Reads.Clear();
        foreach (var r in g.ReadyReads) r.Fail(e);
        g.ReadyReads.Clear();
        foreach (var t in g.Transfers) t.Fail(e);
        g.Transfers.Clear();
        foreach (var c in g.ConfChanges.Values) c.Fail(e);
        g.ConfChanges.Clear();
        // Closed, not abandoned: the chunks made durable stay, so the transfer resumes when the group is opened again.
        g.IncomingSnapshot?.Close();
        g.IncomingSnapshot = null;
        CloseSnapshotSources(g);
    }
}
