using Raft.Core;

namespace Raft.Node;

/// <summary>
/// Everything the callers of one group wait for (loop thread only): proposals queued, the batch the core is deciding
/// on, proposals appended and waiting to apply, proposals held while no leader is known, reads, leadership transfers
/// and configuration changes. Every caller's task of the group is completed here, by the event that decides it:
/// accepted, dropped, applied, snapshot installed, leader known, or failed all at once.
/// </summary>
internal sealed class GroupRequests<TCommand, TResult>(long groupId, RaftMetrics metrics)
{
    private long _nextTag;
    private readonly List<PendingProposal<TCommand, TResult>> _queued = new();
    private PendingProposal<TCommand, TResult>[]? _deciding;
    private long _decidingTag;
    private readonly RingQueue<PendingProposal<TCommand, TResult>> _appended = new();
    /// <summary>The highest index whose proposals' persist latency was recorded.</summary>
    private long _persistRecorded;
    private readonly Dictionary<long, PendingRead<TCommand, TResult>> _reads = new();
    private readonly List<PendingRead<TCommand, TResult>> _readyReads = new();
    private readonly List<PendingTransfer> _transfers = new();
    private readonly Dictionary<long, PendingConfChange> _confChanges = new();

    /// <summary>Proposals made while no leader was known, held (forwarding on) until one is.</summary>
    internal List<PendingProposal<TCommand, TResult>> WaitingForLeader { get; } = new();

    /// <summary>Nothing is queued, appended or being read: the group may go quiet.</summary>
    public bool Idle => _queued.Count == 0 && _appended.Count == 0 && _reads.Count == 0 && _readyReads.Count == 0;

    public bool HasQueued => _queued.Count > 0;

    // ---- proposals --------------------------------------------------------------------------------------------

    public void Queue(PendingProposal<TCommand, TResult> p) => _queued.Add(p);

    /// <summary>Takes every queued proposal as one batch for a Propose input, with the tag the core will answer with.</summary>
    public Proposal<TCommand> TakeBatch(out int count)
    {
        var batch = _queued.ToArray();
        _queued.Clear();
        var commands = new ValueTuple<TCommand, int>[batch.Length];
        for (var i = 0; i < batch.Length; i++) commands[i] = (batch[i].Command, batch[i].Size);
        _deciding = batch;
        _decidingTag = ++_nextTag;
        count = batch.Length;
        return new Proposal<TCommand>(_decidingTag, commands);
    }

    /// <summary>The core neither accepted nor dropped the batch it was given (its step faulted): nothing else will
    /// complete it.</summary>
    public void Undecided(Exception e)
    {
        if (_deciding is not { } batch) return;
        _deciding = null;
        foreach (var p in batch) p.Fail(e);
    }

    /// <summary>ProposalAccepted: the batch (or a configuration change) was appended from <paramref name="firstIndex"/>.</summary>
    public void Accepted(long tag, long firstIndex, long term, long appliedIndex)
    {
        if (_confChanges.TryGetValue(tag, out var change))
        {
            change.Index = firstIndex;
            change.Term = term;
            if (appliedIndex >= firstIndex) ConfChangesReached(firstIndex, term);
            return;
        }
        if (_deciding is not { } batch || tag != _decidingTag) return;
        _deciding = null;
        // Anything still waiting at or after firstIndex was overwritten by this (newer) append.
        while (_appended.Count > 0 && _appended.PeekLast().Index >= firstIndex)
        {
            var lost = _appended.RemoveLast();
            lost.Fail(new ProposalLostException(groupId, lost.Index, lost.Term, term));
        }
        // A log rewritten below what was recorded (this node lost and regained leadership) is recorded again.
        if (firstIndex <= _persistRecorded) _persistRecorded = firstIndex - 1;
        for (var i = 0; i < batch.Length; i++)
        {
            var p = batch[i];
            p.Index = firstIndex + i;
            p.Term = term;
            _appended.AddLast(p);
        }
    }

    /// <summary>This node's log is durable through <paramref name="index"/>: records the proposed-to-persisted latency
    /// of the appended proposals it covers (walking back from the newest, so only the not yet recorded tail is visited).</summary>
    public void Persisted(long index)
    {
        for (var i = _appended.Count - 1; i >= 0; i--)
        {
            var p = _appended[i];
            if (p.Index <= _persistRecorded) break;
            if (p.Index <= index) metrics.ProposalPersisted(p.Started);
        }
        _persistRecorded = Math.Max(_persistRecorded, index);
    }

    /// <summary>ProposalDropped of a configuration change: fails it and returns true.</summary>
    public bool ConfChangeDropped(long tag, DropReason reason, Func<Exception> dropped)
    {
        if (!_confChanges.Remove(tag, out var change)) return false;
        metrics.MembershipChangeDone(RaftMetrics.ReasonName(reason));
        change.Fail(reason.IsInvalidConfigChange || reason.IsConfigChangePending
            ? new MembershipChangeException(groupId, change.Change, reason)
            : dropped());
        return true;
    }

    /// <summary>ProposalDropped of the batch: hands it back, for the caller to fail, hold or forward; null when the tag
    /// is not the batch's.</summary>
    public PendingProposal<TCommand, TResult>[]? TakeDropped(long tag)
    {
        if (_deciding is not { } batch || tag != _decidingTag) return null;
        _deciding = null;
        return batch;
    }

    public static void Fail(PendingProposal<TCommand, TResult>[] batch, Exception e)
    {
        foreach (var p in batch) p.Fail(e);
    }

    /// <summary>No leader is known: the proposals wait for one instead of failing (own callers' timeouts still run;
    /// forwarded ones fail at <paramref name="deadlineTick"/>, see <see cref="ExpireHeld"/>).</summary>
    public void Hold(PendingProposal<TCommand, TResult>[] batch, long deadlineTick)
    {
        foreach (var p in batch)
            if (p is ForwardedProposal<TCommand, TResult> f) f.HoldDeadlineTick = deadlineTick;
        WaitingForLeader.AddRange(batch);
    }

    /// <summary>A leader is known: the held proposals are queued again, except those whose callers gave up meanwhile.
    /// Returns whether any was queued.</summary>
    public bool ReleaseHeld()
    {
        if (WaitingForLeader.Count == 0) return false;
        foreach (var p in WaitingForLeader)
            if (!p.IsCompleted) _queued.Add(p);
        WaitingForLeader.Clear();
        return _queued.Count > 0;
    }

    /// <summary>Fails held forwarded proposals whose deadline passed: a forwarded proposal has no caller's timeout on
    /// this node, so it is never held forever.</summary>
    public void ExpireHeld(long tick, TimeSpan limit)
    {
        if (WaitingForLeader.Count == 0) return;
        WaitingForLeader.RemoveAll(p =>
        {
            if (p is not ForwardedProposal<TCommand, TResult> f || f.HoldDeadlineTick > tick) return p.IsCompleted;
            f.Fail(new RaftTimeoutException(groupId, limit, "forwarded ProposeAsync"));
            return true;
        });
    }

    /// <summary>Entry (index, term) was applied with this outcome: completes the proposals and configuration changes it
    /// decides (those at a lower index, or at this index with another term, were lost).</summary>
    public void Applied(long index, long term, TResult result, Exception? error, long committedAt)
    {
        if (_confChanges.Count > 0) ConfChangesReached(index, term);
        while (_appended.Count > 0 && _appended.PeekFirst().Index <= index)
        {
            var p = _appended.RemoveFirst();
            if (p.Index == index && p.Term == term)
            {
                if (error is null)
                {
                    p.Complete(new ProposeResult<TResult>(index, term, result));
                    metrics.ProposalDone(p.Started, committedAt);
                }
                else p.Fail(new StateMachineException(groupId, index, error));
            }
            else p.Fail(new ProposalLostException(groupId, p.Index, p.Term, p.Index == index ? term : 0));
        }
    }

    /// <summary>Completes (or fails as lost) the configuration changes whose entry index was reached by entry (index, term).</summary>
    private void ConfChangesReached(long index, long term)
    {
        List<long>? done = null;
        foreach (var (tag, c) in _confChanges)
        {
            if (c.Index == 0 || c.Index > index) continue;
            if (c.Index == index && c.Term == term)
            {
                c.TrySetResult(index);
                metrics.MembershipChangeDone("applied");
            }
            else if (c.Index == index) c.Fail(new ProposalLostException(groupId, c.Index, c.Term, term));
            else continue; // an earlier index passed without us seeing it: only a snapshot gets here (SnapshotInstalled)
            (done ??= new()).Add(tag);
        }
        if (done is not null) foreach (var tag in done) _confChanges.Remove(tag);
    }

    /// <summary>A snapshot up to <paramref name="index"/> replaced the state machine: the outcome of every proposal and
    /// change appended at or below it is hidden.</summary>
    public void SnapshotInstalled(long index)
    {
        while (_appended.Count > 0 && _appended.PeekFirst().Index <= index)
        {
            var p = _appended.RemoveFirst();
            p.Fail(new OutcomeUnknownException(groupId, p.Index, index, "proposal"));
        }
        List<long>? hidden = null;
        foreach (var (tag, c) in _confChanges)
            if (c.Index != 0 && c.Index <= index)
            {
                c.Fail(new OutcomeUnknownException(groupId, c.Index, index, "configuration change"));
                (hidden ??= new()).Add(tag);
            }
        if (hidden is not null) foreach (var tag in hidden) _confChanges.Remove(tag);
    }

    // ---- configuration changes, transfers -----------------------------------------------------------------------

    public long Add(PendingConfChange change)
    {
        change.Tag = ++_nextTag;
        _confChanges[change.Tag] = change;
        return change.Tag;
    }

    public void Add(PendingTransfer transfer) => _transfers.Add(transfer);

    /// <summary>A leader is known: transfers to it succeeded.</summary>
    public void LeaderKnown(long leader)
    {
        if (_transfers.Count > 0)
            _transfers.RemoveAll(t =>
            {
                if (t.Target != leader || !t.TrySetResult()) return false;
                metrics.TransferDone("succeeded");
                return true;
            });
    }

    public void TransferDropped(long target, DropReason reason)
    {
        if (_transfers.Count > 0)
            _transfers.RemoveAll(t =>
            {
                if (t.Target != target) return false;
                t.Fail(new LeadershipTransferException(groupId, target, reason));
                metrics.TransferDone(RaftMetrics.ReasonName(reason));
                return true;
            });
    }

    // ---- reads --------------------------------------------------------------------------------------------------

    public long Add(PendingRead<TCommand, TResult> read)
    {
        read.Tag = ++_nextTag;
        _reads[read.Tag] = read;
        return read.Tag;
    }

    /// <summary>ReadReady: the read may run once the state machine applied <paramref name="index"/>.</summary>
    public void ReadReady(long tag, long index, long appliedIndex, IStateMachine<TCommand, TResult> stateMachine)
    {
        if (!_reads.Remove(tag, out var read)) return;
        read.Index = index;
        _readyReads.Add(read);
        ServeReads(appliedIndex, stateMachine);
    }

    public void ReadDropped(long tag, DropReason reason, Exception e)
    {
        if (!_reads.Remove(tag, out var read)) return;
        read.Fail(e);
        metrics.ReadDone(read.Started, RaftMetrics.ReasonName(reason));
    }

    /// <summary>Runs the ready reads the state machine has caught up with.</summary>
    public void ServeReads(long appliedIndex, IStateMachine<TCommand, TResult> stateMachine)
    {
        if (_readyReads.Count == 0) return;
        var kept = 0;
        for (var i = 0; i < _readyReads.Count; i++)
        {
            var r = _readyReads[i];
            if (r.Index <= appliedIndex)
            {
                r.Run(stateMachine);
                metrics.ReadDone(r.Started, "served");
            }
            else _readyReads[kept++] = r;
        }
        _readyReads.RemoveRange(kept, _readyReads.Count - kept);
    }

    // ---- the end ------------------------------------------------------------------------------------------------

    /// <summary>Fails everything the group's callers wait for (the group faulted, was removed, or the node stops).</summary>
    public void FailAll(Exception e)
    {
        foreach (var p in _queued) p.Fail(e);
        _queued.Clear();
        Undecided(e);
        foreach (var p in WaitingForLeader) p.Fail(e);
        WaitingForLeader.Clear();
        while (_appended.Count > 0) _appended.RemoveFirst().Fail(e);
        foreach (var r in _reads.Values) r.Fail(e);
        _reads.Clear();
        foreach (var r in _readyReads) r.Fail(e);
        _readyReads.Clear();
        foreach (var t in _transfers) t.Fail(e);
        _transfers.Clear();
        foreach (var c in _confChanges.Values) c.Fail(e);
        _confChanges.Clear();
    }
}
