using System.Buffers;
using Raft.Core;
using Raft.Serialization;
using Raft.Storage;

namespace Raft.Node;

public sealed partial class RaftNodeHost<TCommand, TResult>
{
    private readonly ArrayBufferWriter<byte> _entryBuffer = new(64 << 10);
    private int[] _entryEnds = new int[256];
    private LogRecord[] _records = new LogRecord[256];
    private readonly HashSet<string> _unsupportedLogged = new();

    /// <summary>Carries out one effect of a group's step, in list order.</summary>
    private void Interpret(RaftGroup<TCommand, TResult> g, Effect<TCommand> effect)
    {
        switch (effect)
        {
            case Effect<TCommand>.Persist p:
                OnPersist(g, p.Item);
                break;
            case Effect<TCommand>.Send s:
                Send(g, s.Item);
                break;
            case Effect<TCommand>.Apply a:
                OnApply(g, a.Item);
                break;
            case Effect<TCommand>.LoadEntries l:
                OnLoadEntries(g, l.purpose, l.from, l.upTo);
                break;
            case Effect<TCommand>.ProposalAccepted pa:
                OnAccepted(g, pa.tag, pa.firstIndex, pa.term);
                break;
            case Effect<TCommand>.ProposalDropped pd:
                OnDropped(g, pd.tag, pd.reason, pd.leader);
                break;
            case Effect<TCommand>.ReadReady rr:
                if (g.Reads.Remove(rr.tag, out var ready))
                {
                    ready.Index = rr.index;
                    g.ReadyReads.Add(ready);
                    ServeReads(g);
                }
                break;
            case Effect<TCommand>.ReadDropped rd:
                if (g.Reads.Remove(rd.tag, out var dropped)) dropped.Fail(DropException(g, rd.reason, rd.leader));
                break;
            case Effect<TCommand>.RoleChanged rc:
                OnRoleChanged(g, rc.role, rc.term, rc.leader);
                break;
            case Effect<TCommand>.TransferDropped td:
                OnTransferDropped(g, td.target, td.reason);
                break;
            case Effect<TCommand>.SaveSnapshot ss:
                OnSaveSnapshot(g, ss.Item);
                break;
            case Effect<TCommand>.CompactLog cl:
                var log = g.Storage.Log;
                // The core compacts only below its applied (hence durable-and-committed) index; CompactPrefix is durable when it returns.
                if (cl.upTo >= log.FirstIndex && cl.upTo <= log.LastIndex) log.CompactPrefix(cl.upTo, log.TermAt(cl.upTo));
                break;
            case Effect<TCommand>.ReadSnapshotChunk rs:
                OnReadSnapshotChunk(g, rs.To, rs.meta, rs.transferId, rs.offset, rs.maxBytes);
                break;
            default:
                Unsupported(g, effect.GetType().Name);
                break;
        }
    }

    private void Unsupported(RaftGroup<TCommand, TResult> g, string what)
    {
        if (_unsupportedLogged.Add(what)) NodeLog.UnsupportedEffect(_log, g.GroupId, what);
    }

    private void OnPersist(RaftGroup<TCommand, TResult> g, PersistRequest<TCommand> p)
    {
        var hard = p.HardState.IsSome ? RaftStateCodec.EncodeHardState(p.HardState.Value) : null;
        if (p.Snapshot.IsSome) OnSnapshotChunk(g, p.Snapshot.Value);
        long index = -1, term = 0;
        var entries = p.Entries;
        if (entries.Length > 0)
        {
            AppendToLog(g, entries);
            index = entries[^1].Index;
            term = entries[^1].Term;
            g.LastActivityTick = _tick;
        }
        _durable.Add(new DurableItem<TCommand, TResult>(g, hard, index, term, p.ThenSend));
    }

    /// <summary>Encodes the entries into one reused buffer and appends them (the log truncates at the first index).</summary>
    private void AppendToLog(RaftGroup<TCommand, TResult> g, Entry<TCommand>[] entries)
    {
        var n = entries.Length;
        if (_entryEnds.Length < n)
        {
            _entryEnds = new int[Math.Max(n, _entryEnds.Length * 2)];
            _records = new LogRecord[_entryEnds.Length];
        }
        _entryBuffer.ResetWrittenCount();
        for (var i = 0; i < n; i++)
        {
            _codec.WriteEntry(_entryBuffer, entries[i]);
            _entryEnds[i] = _entryBuffer.WrittenCount;
        }
        var memory = _entryBuffer.WrittenMemory;
        var start = 0;
        for (var i = 0; i < n; i++)
        {
            _records[i] = new LogRecord(entries[i].Index, entries[i].Term, memory[start.._entryEnds[i]]);
            start = _entryEnds[i];
        }
        g.Storage.Log.Append(_records.AsSpan(0, n));
        Array.Clear(_records, 0, n);
    }

    private void OnApply(RaftGroup<TCommand, TResult> g, Entry<TCommand>[] entries)
    {
        var sm = g.StateMachine;
        foreach (var e in entries)
        {
            TResult result = default!;
            Exception? error = null;
            if (e.Payload is Payload<TCommand>.Command c)
            {
                try { result = sm.Apply(e.Index, e.Term, c.Item); }
                catch (Exception ex)
                {
                    error = ex;
                    NodeLog.ApplyFailed(_log, ex, g.GroupId, e.Index);
                }
            }
            g.AppliedIndex = e.Index;
            if (g.ConfChanges.Count > 0) CompleteConfChanges(g, e.Index, e.Term);
            var awaiting = g.Awaiting;
            while (awaiting.Count > 0 && awaiting.PeekFirst().Index <= e.Index)
            {
                var p = awaiting.RemoveFirst();
                if (p.Index == e.Index && p.Term == e.Term)
                {
                    if (error is null) p.TrySetResult(new ProposeResult<TResult>(e.Index, e.Term, result));
                    else p.TrySetException(new StateMachineException(g.GroupId, e.Index, error));
                }
                else p.Fail(new ProposalLostException(g.GroupId, p.Index, p.Term, p.Index == e.Index ? e.Term : 0));
            }
        }
        Metrics.Applied(entries.Length);
        if (entries.Length > 0) g.LastActivityTick = _tick;
        if (!g.AppliedDirty)
        {
            g.AppliedDirty = true;
            _appliedDirty.Add(g);
        }
    }

    private void ServeReads(RaftGroup<TCommand, TResult> g)
    {
        var ready = g.ReadyReads;
        if (ready.Count == 0) return;
        var kept = 0;
        for (var i = 0; i < ready.Count; i++)
        {
            var r = ready[i];
            if (r.Index <= g.AppliedIndex) r.Run(g.StateMachine);
            else ready[kept++] = r;
        }
        ready.RemoveRange(kept, ready.Count - kept);
    }

    private void OnAccepted(RaftGroup<TCommand, TResult> g, long tag, long firstIndex, long term)
    {
        if (g.ConfChanges.TryGetValue(tag, out var change))
        {
            change.Index = firstIndex;
            change.Term = term;
            if (g.AppliedIndex >= firstIndex) CompleteConfChanges(g, firstIndex, term);
            return;
        }
        var batch = g.CurrentBatch;
        if (batch is null || tag != g.CurrentBatchTag) return;
        g.CurrentBatch = null;
        // Anything still waiting at or after firstIndex was overwritten by this (newer) append.
        while (g.Awaiting.Count > 0 && g.Awaiting.PeekLast().Index >= firstIndex)
        {
            var lost = g.Awaiting.RemoveLast();
            lost.Fail(new ProposalLostException(g.GroupId, lost.Index, lost.Term, term));
        }
        for (var i = 0; i < batch.Length; i++)
        {
            var p = batch[i];
            p.Index = firstIndex + i;
            p.Term = term;
            g.Awaiting.AddLast(p);
        }
    }

    private void OnDropped(RaftGroup<TCommand, TResult> g, long tag, DropReason reason, long leader)
    {
        if (g.ConfChanges.Remove(tag, out var change))
        {
            change.Fail(reason.IsInvalidConfigChange || reason.IsConfigChangePending
                ? new MembershipChangeException(g.GroupId, change.Change, reason)
                : DropException(g, reason, leader));
            return;
        }
        var batch = g.CurrentBatch;
        if (batch is null || tag != g.CurrentBatchTag) return;
        g.CurrentBatch = null;
        var e = DropException(g, reason, leader);
        if (reason.IsNotLeader && Options.ForwardProposals)
        {
            if (leader == 0)
            {
                HoldUntilLeader(g, batch);
                return;
            }
            if (leader != NodeId && Forward(g, batch, leader, e)) return;
        }
        Metrics.Dropped(batch.Length);
        foreach (var p in batch) p.Fail(e);
    }

    private Exception DropException(RaftGroup<TCommand, TResult> g, DropReason reason, long leader) =>
        reason.IsNotLeader ? new NotLeaderException(g.GroupId, NodeId, leader == NodeId ? 0 : leader) : new ProposalDroppedException(g.GroupId, reason);

    private void OnRoleChanged(RaftGroup<TCommand, TResult> g, RoleKind role, long term, long leader)
    {
        var r = RaftStatus.ToRole(role);
        if (leader != 0 && g.Transfers.Count > 0)
        {
            var kept = 0;
            foreach (var t in g.Transfers)
                if (t.Target == leader) t.TrySetResult();
                else g.Transfers[kept++] = t;
            g.Transfers.RemoveRange(kept, g.Transfers.Count - kept);
        }
        NodeLog.RoleChanged(_log, g.GroupId, NodeId, r, term, leader);
        if (_forwarded.Count > 0) OnLeaderMoved(g, leader);
        if (leader != 0 && g.WaitingForLeader.Count > 0) ReleaseToLeader(g);
        Metrics.LeaderChanged();
        if (g.Quiescent) WakeGroup(g);
        var args = new RoleChangedEventArgs(g.GroupId, r, term, leader);
        g.RaiseRoleChanged(args);
        RaiseRoleChanged(args);
    }

    private void OnSaveSnapshot(RaftGroup<TCommand, TResult> g, SnapshotMeta meta)
    {
        if (g.Storage.Snapshots is not { } store)
        {
            Unsupported(g, "SaveSnapshot without a snapshot store");
            return;
        }
        using var data = new MemoryStream();
        g.StateMachine.Snapshot(data);
        data.Position = 0;
        store.Write(meta.Index, meta.Term, RaftStateCodec.EncodeSnapshotMeta(meta), data);
        // Only the latest snapshot is read at a restart; transfers of older ones read the files they keep open.
        store.DeleteOlderThan(meta.Index);
        _feedback.Enqueue(Input<TCommand>.NewSnapshotSaved(meta));
    }

    private void OnTransferDropped(RaftGroup<TCommand, TResult> g, long target, DropReason reason)
    {
        if (g.Transfers.Count == 0) return;
        var kept = 0;
        foreach (var t in g.Transfers)
            if (t.Target == target) t.Fail(new LeadershipTransferException(g.GroupId, target, reason));
            else g.Transfers[kept++] = t;
        g.Transfers.RemoveRange(kept, g.Transfers.Count - kept);
    }

    /// <summary>Completes (or fails as lost) the configuration changes whose entry index was reached by entry (index, term).</summary>
    private static void CompleteConfChanges(RaftGroup<TCommand, TResult> g, long index, long term)
    {
        List<long>? done = null;
        foreach (var (tag, c) in g.ConfChanges)
        {
            if (c.Index == 0 || c.Index > index) continue;
            if (c.Index == index && c.Term == term) c.TrySetResult(index);
            else if (c.Index == index) c.Fail(new ProposalLostException(g.GroupId, c.Index, c.Term, term));
            else continue; // an earlier index passed without us seeing it: only the snapshot path gets here (handled there)
            (done ??= new()).Add(tag);
        }
        if (done is not null) foreach (var tag in done) g.ConfChanges.Remove(tag);
    }

    /// <summary>A received InstallSnapshot chunk (follower): written in order into a partial snapshot file of that
    /// snapshot (the one a restored group was receiving is continued: see <see cref="GroupRestore"/>) and made durable
    /// with a record of how far it got, so a restart resumes the transfer there; the last chunk publishes the file
    /// atomically, resets the log to start right after the snapshot and restores the state machine from it. Runs on
    /// the loop, before the Persist's entries and its ThenSend (which leave only after every earlier write is durable,
    /// see <see cref="Durability{TCommand,TResult}"/>): the acknowledgement of a chunk never precedes its bytes.</summary>
    private void OnSnapshotChunk(RaftGroup<TCommand, TResult> g, SnapshotChunk chunk)
    {
        var store = g.Storage.Snapshots
            ?? throw new InvalidOperationException($"Group {g.GroupId} received a snapshot but its storage has no snapshot store.");
        var meta = chunk.Meta;
        if (chunk.Offset == 0 || g.IncomingSnapshot is null || g.IncomingSnapshotIndex != meta.Index || g.IncomingSnapshotTerm != meta.Term)
        {
            g.IncomingSnapshot?.Dispose(); // deletes the partial file and record of an abandoned transfer
            g.IncomingSnapshot = null;
            if (chunk.Offset != 0)
                throw new InvalidOperationException($"Group {g.GroupId}: snapshot chunk at offset {chunk.Offset} of {meta.Index}/{meta.Term} without its start.");
            g.IncomingSnapshot = store.BeginReceive(meta.Index, meta.Term, RaftStateCodec.EncodeSnapshotMeta(meta), chunk.TransferId);
            g.ReceivedSnapshotStarts++;
            g.IncomingSnapshotIndex = meta.Index;
            g.IncomingSnapshotTerm = meta.Term;
        }
        var before = g.IncomingSnapshot.BytesWritten;
        g.IncomingSnapshot.WriteChunk(chunk.Offset, chunk.Data);
        Volatile.Write(ref g.ReceivedSnapshotBytes, g.ReceivedSnapshotBytes + g.IncomingSnapshot.BytesWritten - before);
        g.LastActivityTick = _tick;
        // Snapshot chunks are large and rare: a few fsyncs each, here on the loop, are affordable and simpler than
        // routing them through the group commit. The last chunk is made durable by Complete instead.
        if (!chunk.Done)
        {
            g.IncomingSnapshot.Checkpoint(chunk.TransferId);
            return;
        }

        var writer = g.IncomingSnapshot;
        g.IncomingSnapshot = null;
        using (writer) writer.Complete(); // fdatasync + rename + directory fsync
        ResetLogTo(g.Storage.Log, meta.Index, meta.Term);
        using (var reader = store.OpenLatest() ?? throw new InvalidOperationException($"Group {g.GroupId}: the installed snapshot {meta.Index} is missing."))
        {
            if (reader.Metadata.Index != meta.Index || reader.Metadata.Term != meta.Term)
                throw new InvalidOperationException($"Group {g.GroupId}: installed snapshot {meta.Index}/{meta.Term} but the latest stored is {reader.Metadata.Index}/{reader.Metadata.Term}.");
            g.StateMachine.Restore(reader.Data);
        }
        store.DeleteOlderThan(meta.Index);
        g.AppliedIndex = meta.Index;
        NodeLog.SnapshotInstalled(_log, g.GroupId, NodeId, meta.Index, meta.Term);
        // Proposals of an earlier leadership that this node still waits for: the snapshot hides their outcome.
        while (g.Awaiting.Count > 0 && g.Awaiting.PeekFirst().Index <= meta.Index)
        {
            var p = g.Awaiting.RemoveFirst();
            p.Fail(new OutcomeUnknownException(g.GroupId, p.Index, meta.Index, "proposal"));
        }
        List<long>? hidden = null;
        foreach (var (tag, c) in g.ConfChanges)
            if (c.Index != 0 && c.Index <= meta.Index)
            {
                c.Fail(new OutcomeUnknownException(g.GroupId, c.Index, meta.Index, "configuration change"));
                (hidden ??= new()).Add(tag);
            }
        if (hidden is not null) foreach (var tag in hidden) g.ConfChanges.Remove(tag);
        if (!g.AppliedDirty)
        {
            g.AppliedDirty = true;
            _appliedDirty.Add(g);
        }
    }

    /// <summary>Leaves the log empty after <paramref name="index"/>: first index index+1, TermAt(index) = term.</summary>
    internal static void ResetLogTo(ILogStorage log, long index, long term)
    {
        if (log.LastIndex > index && index + 1 >= log.FirstIndex) log.TruncateSuffix(index + 1);
        if (index >= log.FirstIndex - 1 && index <= log.LastIndex && log.TermAt(index) == term && log.FirstIndex == index + 1) return;
        log.CompactPrefix(index, term);
    }

    private void OnReadSnapshotChunk(RaftGroup<TCommand, TResult> g, long to, SnapshotMeta meta, long transferId, long offset, int maxBytes)
    {
        var reader = SnapshotSource(g, meta);
        if (reader is null)
        {
            // A snapshot no longer stored and not open (a restart between chunks): send the peer back to probing, which
            // starts a new transfer of the latest snapshot when it still needs one.
            _feedback.Enqueue(Input<TCommand>.NewUnreachable(to));
            return;
        }
        // ReadAt fills the buffer or throws (a snapshot shorter than its header says is corrupt): no copy to trim it.
        var buffer = new byte[(int)Math.Min(maxBytes, Math.Max(0, reader.Metadata.DataLength - offset))];
        reader.ReadAt(offset, buffer);
        var done = offset + buffer.Length >= reader.Metadata.DataLength;
        _feedback.Enqueue(Input<TCommand>.NewSnapshotChunkLoaded(to, new SnapshotChunk(meta, transferId, offset, buffer, done)));
    }

    /// <summary>The snapshot a transfer sends, kept open from its first chunk to its last: chunks are read at their offset
    /// (not by reading the whole prefix again), and newer snapshots may replace the file meanwhile.</summary>
    private Raft.Storage.SnapshotReader? SnapshotSource(RaftGroup<TCommand, TResult> g, SnapshotMeta meta)
    {
        var key = (meta.Index, meta.Term);
        if (g.SnapshotSources.TryGetValue(key, out var source))
        {
            g.SnapshotSources[key] = (source.Reader, _tick);
            return source.Reader;
        }
        if (g.Storage.Snapshots?.Open(meta.Index, meta.Term) is not { } reader) return null;
        g.SnapshotSources[key] = (reader, _tick);
        return reader;
    }

    /// <summary>Closes every snapshot the group keeps open for transfers (the group closes, or goes quiet with every
    /// peer caught up).</summary>
    private static void CloseSnapshotSources(RaftGroup<TCommand, TResult> g)
    {
        foreach (var source in g.SnapshotSources.Values) source.Reader.Dispose();
        g.SnapshotSources.Clear();
    }

    /// <summary>Closes the snapshots no transfer read from for two election timeouts (finished or abandoned transfers;
    /// checked every tick of an awake group).</summary>
    private void CloseIdleSnapshotSources(RaftGroup<TCommand, TResult> g)
    {
        if (g.SnapshotSources.Count == 0) return;
        List<(long, long)>? idle = null;
        foreach (var (key, source) in g.SnapshotSources)
            if (_tick - source.LastRead > 2L * Options.ElectionTicks) (idle ??= new()).Add(key);
        if (idle is null) return;
        foreach (var key in idle)
        {
            g.SnapshotSources.Remove(key, out var source);
            source.Reader.Dispose();
        }
    }

    private void OnLoadEntries(RaftGroup<TCommand, TResult> g, LoadPurpose purpose, long from, long upTo)
    {
        var log = g.Storage.Log;
        Entry<TCommand>[] entries;
        var compacted = from < log.FirstIndex;
        if (compacted || from > log.LastIndex) entries = [];
        else
        {
            var maxBytes = purpose.IsForPeer ? Options.MaxSizePerMsg : 64L << 20;
            var records = log.ReadRange(from, Math.Min(upTo, log.LastIndex), maxBytes);
            entries = new Entry<TCommand>[records.Count];
            for (var i = 0; i < entries.Length; i++) entries[i] = _codec.DecodeEntry(records[i].Payload);
        }
        _feedback.Enqueue(Input<TCommand>.NewEntriesLoaded(new LoadedEntries<TCommand>(purpose, entries, compacted)));
    }
}
