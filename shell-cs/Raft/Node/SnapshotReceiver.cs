using Raft.Core;
using Raft.Serialization;
using Raft.Storage;

namespace Raft.Node;

/// <summary>
/// The follower's side of InstallSnapshot for one group (loop thread only): chunks are written in order into a partial
/// snapshot file, each made durable with a record of how far it got, so a restart resumes the transfer there
/// (<see cref="Resume"/>); the last chunk publishes the file atomically, resets the log to start right after the
/// snapshot and restores the state machine from it. A transfer the core abandons is deleted; one that is only closed
/// (the group closes) keeps its durable chunks for the next open.
/// </summary>
internal sealed class SnapshotReceiver(long groupId)
{
    private SnapshotWriter? _writer;
    private long _index, _term;

    /// <summary>Transfers begun at offset 0 since the group was opened (tests).</summary>
    public int Starts { get; private set; }

    /// <summary>Snapshot data bytes written from received chunks since the group was opened (tests read it to see that
    /// a transfer resumed after a restart writes only the rest).</summary>
    public long BytesWritten => Volatile.Read(ref _bytesWritten);
    private long _bytesWritten;

    public bool Receiving => _writer is not null;

    /// <summary>Continues the transfer a restored group was receiving (before the group joins the loop).</summary>
    public void Resume(SnapshotWriter writer)
    {
        _writer = writer;
        _index = writer.Index;
        _term = writer.Term;
    }

    /// <summary>Writes one chunk; returns true when it was the last and the snapshot is installed: the log then starts
    /// right after it and the state machine holds it. Runs before the Persist's entries and its ThenSend, which leave
    /// only after every earlier write is durable: the acknowledgement of a chunk never precedes its bytes.</summary>
    public bool OnChunk<TCommand, TResult>(SnapshotChunk chunk, GroupStorage storage, IStateMachine<TCommand, TResult> stateMachine)
    {
        var store = storage.Snapshots
            ?? throw new InvalidOperationException($"Group {groupId} received a snapshot but its storage has no snapshot store.");
        var meta = chunk.Meta;
        if (_writer is not null && (_index != meta.Index || _term != meta.Term))
            throw new InvalidOperationException($"Group {groupId}: a chunk of snapshot {meta.Index}/{meta.Term} while {_index}/{_term} is being " +
                "received; the core abandons a transfer (AbandonSnapshot) before another begins.");
        if (chunk.Offset == 0 || _writer is null)
        {
            Abandon(); // the same snapshot sent again from its start: the partial file and record begin anew
            if (chunk.Offset != 0)
                throw new InvalidOperationException($"Group {groupId}: snapshot chunk at offset {chunk.Offset} of {meta.Index}/{meta.Term} without its start.");
            _writer = store.BeginReceive(meta.Index, meta.Term, RaftStateCodec.EncodeSnapshotMeta(meta), chunk.TransferId);
            Starts++;
            _index = meta.Index;
            _term = meta.Term;
        }
        var before = _writer.BytesWritten;
        _writer.WriteChunk(chunk.Offset, chunk.Data);
        Volatile.Write(ref _bytesWritten, _bytesWritten + _writer.BytesWritten - before);
        // Snapshot chunks are large and rare: a few fsyncs each, here on the loop, are affordable and simpler than
        // routing them through the group commit. The last chunk is made durable by Complete instead.
        if (!chunk.Done)
        {
            _writer.Checkpoint(chunk.TransferId);
            return false;
        }
        Install(meta, storage, store, stateMachine);
        return true;
    }

    private void Install<TCommand, TResult>(SnapshotMeta meta, GroupStorage storage, ISnapshotStore store, IStateMachine<TCommand, TResult> stateMachine)
    {
        var writer = _writer!;
        _writer = null;
        using (writer) writer.Complete(); // fdatasync + rename + directory fsync
        ResetLogTo(storage.Log, meta.Index, meta.Term);
        using (var reader = store.OpenLatest() ?? throw new InvalidOperationException($"Group {groupId}: the installed snapshot {meta.Index} is missing."))
        {
            if (reader.Metadata.Index != meta.Index || reader.Metadata.Term != meta.Term)
                throw new InvalidOperationException($"Group {groupId}: installed snapshot {meta.Index}/{meta.Term} but the latest stored is {reader.Metadata.Index}/{reader.Metadata.Term}.");
            stateMachine.Restore(reader.Data);
        }
        store.DeleteOlderThan(meta.Index);
    }

    /// <summary>Leaves the log empty after <paramref name="index"/>: first index index+1, TermAt(index) = term.</summary>
    internal static void ResetLogTo(ILogStorage log, long index, long term)
    {
        if (log.LastIndex > index && index + 1 >= log.FirstIndex) log.TruncateSuffix(index + 1);
        if (index >= log.FirstIndex - 1 && index <= log.LastIndex && log.TermAt(index) == term && log.FirstIndex == index + 1) return;
        log.CompactPrefix(index, term);
    }

    /// <summary>The core gave the transfer up (AbandonSnapshot: its log or commit index overtook the snapshot, or
    /// another snapshot's transfer replaces it): the partial file and its record are deleted.</summary>
    public void Abandon()
    {
        _writer?.Dispose();
        _writer = null;
    }

    /// <summary>The group closes: the chunks made durable stay, so the transfer resumes when it is opened again.</summary>
    public void Close()
    {
        _writer?.Close();
        _writer = null;
    }
}
