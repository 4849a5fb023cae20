using System.Buffers;
using Microsoft.Extensions.Logging;
using Raft.Core;
using Raft.Serialization;
using Raft.Storage;

namespace Raft.Node;

/// <summary>
/// Carries out the effects of one group's step, in list order (loop thread only): appends go to the group's log and
/// wait for the group commit with what may only follow them, messages go to the outbox, committed entries to the state
/// machine, outcomes to the group's requests; completions the host produces at once (loaded entries, a saved snapshot,
/// a chunk read) are queued as the next inputs of the same group. It never steps a core itself.
/// </summary>
internal sealed class EffectInterpreter<TCommand, TResult>
{
    private readonly long _nodeId;
    private readonly RaftNodeOptions _options;
    private readonly RaftMessageCodec<TCommand> _codec;
    private readonly Iteration<TCommand, TResult> _iteration;
    private readonly ProposalForwarder<TCommand, TResult> _forwarder;
    private readonly Quiescence<TCommand, TResult> _quiescence;
    private readonly RaftMetrics _metrics;
    private readonly ILogger _log;
    private readonly Func<long> _tick;
    private readonly Action<RoleChangedEventArgs> _roleChanged;
    private readonly EntryEncoder<TCommand> _encoder;

    public EffectInterpreter(long nodeId, RaftNodeOptions options, RaftMessageCodec<TCommand> codec, Iteration<TCommand, TResult> iteration,
        ProposalForwarder<TCommand, TResult> forwarder, Quiescence<TCommand, TResult> quiescence, RaftMetrics metrics, ILogger log,
        Func<long> tick, Action<RoleChangedEventArgs> roleChanged)
    {
        _nodeId = nodeId;
        _options = options;
        _codec = codec;
        _iteration = iteration;
        _forwarder = forwarder;
        _quiescence = quiescence;
        _metrics = metrics;
        _log = log;
        _tick = tick;
        _roleChanged = roleChanged;
        _encoder = new EntryEncoder<TCommand>(codec);
    }

    public void Interpret(GroupRuntime<TCommand, TResult> g, Effect<TCommand> effect)
    {
        switch (effect)
        {
            case Effect<TCommand>.Persist p:
                OnPersist(g, p.Item);
                break;
            case Effect<TCommand>.Send s:
                _iteration.Outbox.Send(g.GroupId, s.Item);
                break;
            case Effect<TCommand>.Apply a:
                OnApply(g, a.Item);
                break;
            case Effect<TCommand>.LoadEntries l:
                OnLoadEntries(g, l.purpose, l.from, l.upTo);
                break;
            case Effect<TCommand>.ProposalAccepted pa:
                g.Requests.Accepted(pa.tag, pa.firstIndex, pa.term, g.AppliedIndex);
                break;
            case Effect<TCommand>.ProposalDropped pd:
                OnDropped(g, pd.tag, pd.reason, pd.leader);
                break;
            case Effect<TCommand>.ReadReady rr:
                g.Requests.ReadReady(rr.tag, rr.index, g.AppliedIndex, g.StateMachine);
                break;
            case Effect<TCommand>.ReadDropped rd:
                g.Requests.ReadDropped(rd.tag, rd.reason, DropException(g, rd.reason, rd.leader));
                break;
            case Effect<TCommand>.RoleChanged rc:
                OnRoleChanged(g, rc.role, rc.term, rc.leader);
                break;
            case Effect<TCommand>.TransferDropped td:
                g.Requests.TransferDropped(td.target, td.reason);
                break;
            case Effect<TCommand>.SaveSnapshot ss:
                OnSaveSnapshot(g, ss.Item);
                break;
            case Effect<TCommand>.CompactLog cl:
                var log = g.Storage.Log;
                // The core compacts only below its applied (hence durable-and-committed) index; CompactPrefix is durable when it returns.
                if (cl.upTo >= log.FirstIndex && cl.upTo <= log.LastIndex)
                {
                    log.CompactPrefix(cl.upTo, log.TermAt(cl.upTo));
                    _metrics.Compacted();
                }
                break;
            case Effect<TCommand>.AbandonSnapshot:
                g.Receiver.Abandon();
                _metrics.SnapshotAbandoned();
                break;
            case Effect<TCommand>.ReadSnapshotChunk rs:
                OnReadSnapshotChunk(g, rs.To, rs.meta, rs.transferId, rs.offset, rs.maxBytes);
                break;
            default:
                // A core newer than this host: carrying on would break the contract the effect stands for.
                throw new InvalidOperationException($"Group {g.GroupId}: the core emitted {effect.GetType().Name}, which this host does not know.");
        }
    }

    private void OnPersist(GroupRuntime<TCommand, TResult> g, PersistRequest<TCommand> p)
    {
        var hard = p.HardState.IsSome ? RaftStateCodec.EncodeHardState(p.HardState.Value) : null;
        if (p.Snapshot.IsSome)
        {
            if (g.Receiver.OnChunk(p.Snapshot.Value, g.Storage, g.StateMachine)) SnapshotInstalled(g, p.Snapshot.Value.Meta);
            g.LastActivityTick = _tick();
        }
        LogPosition? last = null;
        var entries = p.Entries;
        if (entries.Length > 0)
        {
            var truncates = entries[0].Index <= g.Storage.Log.LastIndex;
            var bytes = _encoder.Append(g.Storage.Log, entries);
            _metrics.Appended(entries.Length, bytes, truncates);
            last = new LogPosition(entries[^1].Index, entries[^1].Term);
            g.LastActivityTick = _tick();
        }
        _iteration.Durable.Add(DurableItem<TCommand, TResult>.Persist(g, hard, last, p.ThenSend));
    }

    private void SnapshotInstalled(GroupRuntime<TCommand, TResult> g, SnapshotMeta meta)
    {
        g.AppliedIndex = meta.Index;
        _metrics.SnapshotInstalled();
        NodeLog.SnapshotInstalled(_log, g.GroupId, _nodeId, meta.Index, meta.Term);
        // Proposals of an earlier leadership that this node still waits for: the snapshot hides their outcome.
        g.Requests.SnapshotInstalled(meta.Index);
        _iteration.MarkApplied(g);
    }

    private void OnApply(GroupRuntime<TCommand, TResult> g, Entry<TCommand>[] entries)
    {
        var sm = g.StateMachine;
        var committedAt = System.Diagnostics.Stopwatch.GetTimestamp();
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
            g.Requests.Applied(e.Index, e.Term, result, error, committedAt);
        }
        _metrics.Applied(entries.Length);
        if (entries.Length > 0) g.LastActivityTick = _tick();
        _iteration.MarkApplied(g);
    }

    private void OnDropped(GroupRuntime<TCommand, TResult> g, long tag, DropReason reason, long leader)
    {
        if (g.Requests.ConfChangeDropped(tag, reason, () => DropException(g, reason, leader))) return;
        if (g.Requests.TakeDropped(tag) is not { } batch) return;
        var e = DropException(g, reason, leader);
        if (reason.IsNotLeader && _options.ForwardProposals)
        {
            if (leader == 0)
            {
                g.Requests.Hold(batch, _tick() + RequestTimeoutTicks);
                return;
            }
            if (leader != _nodeId && _forwarder.Forward(g, batch, leader, e)) return;
        }
        _metrics.Dropped(batch.Length, reason);
        GroupRequests<TCommand, TResult>.Fail(batch, e);
    }

    /// <summary>The node's request timeout in ticks (at least one): how long a held forwarded proposal waits.</summary>
    private long RequestTimeoutTicks => Math.Max(1, (long)Math.Ceiling(_options.RequestTimeout / _options.TickInterval));

    private Exception DropException(GroupRuntime<TCommand, TResult> g, DropReason reason, long leader) =>
        reason.IsNotLeader ? new NotLeaderException(g.GroupId, _nodeId, leader == _nodeId ? 0 : leader) : new ProposalDroppedException(g.GroupId, reason);

    private void OnRoleChanged(GroupRuntime<TCommand, TResult> g, RoleKind role, long term, long leader)
    {
        var r = RaftStatus.ToRole(role);
        if (leader != 0) g.Requests.LeaderKnown(leader);
        NodeLog.RoleChanged(_log, g.GroupId, _nodeId, r, term, leader);
        _forwarder.LeaderMoved(g, leader, _tick());
        // Proposals held for a leader are proposed again (here, or forwarded) in this iteration.
        if (leader != 0 && g.Requests.ReleaseHeld()) _iteration.Propose(g);
        _metrics.RoleChanged(g.Role, r);
        g.Role = r;
        _quiescence.Wake(g, _tick());
        var args = new RoleChangedEventArgs(g.GroupId, r, term, leader);
        g.Handle.RaiseRoleChanged(args);
        _roleChanged(args);
    }

    private void OnSaveSnapshot(GroupRuntime<TCommand, TResult> g, SnapshotMeta meta)
    {
        // Refused when the group opened: a group with snapshots on always has a store.
        var store = g.Storage.Snapshots ?? throw new InvalidOperationException($"Group {g.GroupId}: SaveSnapshot without a snapshot store.");
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var data = new MemoryStream();
        g.StateMachine.Snapshot(data);
        data.Position = 0;
        store.Write(meta.Index, meta.Term, RaftStateCodec.EncodeSnapshotMeta(meta), data);
        // Only the latest snapshot is read at a restart; transfers of older ones read the files they keep open.
        store.DeleteOlderThan(meta.Index);
        _metrics.SnapshotTaken(System.Diagnostics.Stopwatch.GetElapsedTime(started));
        _iteration.Feedback.Enqueue(Input<TCommand>.NewSnapshotSaved(meta));
    }

    private void OnReadSnapshotChunk(GroupRuntime<TCommand, TResult> g, long to, SnapshotMeta meta, long transferId, long offset, int maxBytes)
    {
        // A snapshot no longer stored and not open (a restart between chunks): the peer goes back to probing, which
        // starts a new transfer of the latest snapshot when it still needs one.
        _iteration.Feedback.Enqueue(g.Sources.Read(g.Storage.Snapshots, meta, transferId, offset, maxBytes, _tick()) is { } chunk
            ? Input<TCommand>.NewSnapshotChunkLoaded(to, chunk)
            : Input<TCommand>.NewUnreachable(to));
    }

    private void OnLoadEntries(GroupRuntime<TCommand, TResult> g, LoadPurpose purpose, long from, long upTo)
    {
        var log = g.Storage.Log;
        Entry<TCommand>[] entries;
        var compacted = from < log.FirstIndex;
        if (compacted || from > log.LastIndex) entries = [];
        else
        {
            var maxBytes = purpose.IsForPeer ? _options.MaxSizePerMsg : 64L << 20;
            var records = log.ReadRange(from, Math.Min(upTo, log.LastIndex), maxBytes);
            entries = new Entry<TCommand>[records.Count];
            for (var i = 0; i < entries.Length; i++) entries[i] = _codec.DecodeEntry(records[i].Payload);
        }
        _iteration.Feedback.Enqueue(Input<TCommand>.NewEntriesLoaded(new LoadedEntries<TCommand>(purpose, entries, compacted)));
    }
}

/// <summary>Encodes entries into one reused buffer and appends them as log records (loop thread only).</summary>
internal sealed class EntryEncoder<TCommand>(RaftMessageCodec<TCommand> codec)
{
    private readonly ArrayBufferWriter<byte> _buffer = new(64 << 10);
    private int[] _ends = new int[256];
    private LogRecord[] _records = new LogRecord[256];

    /// <summary>Appends <paramref name="entries"/> (the log truncates at the first index); returns the encoded bytes.</summary>
    public long Append(ILogStorage log, Entry<TCommand>[] entries)
    {
        var n = entries.Length;
        if (_ends.Length < n)
        {
            _ends = new int[Math.Max(n, _ends.Length * 2)];
            _records = new LogRecord[_ends.Length];
        }
        _buffer.ResetWrittenCount();
        for (var i = 0; i < n; i++)
        {
            codec.WriteEntry(_buffer, entries[i]);
            _ends[i] = _buffer.WrittenCount;
        }
        var memory = _buffer.WrittenMemory;
        var start = 0;
        for (var i = 0; i < n; i++)
        {
            _records[i] = new LogRecord(entries[i].Index, entries[i].Term, memory[start.._ends[i]]);
            start = _ends[i];
        }
        log.Append(_records.AsSpan(0, n));
        Array.Clear(_records, 0, n);
        return _buffer.WrittenCount;
    }
}
