using System.Buffers.Binary;
using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Raft.Storage;

/// <summary>
/// One log for every Raft group of a node: each group's entries, truncations, compactions, resets and hard state are
/// items in one sequence of files, and <see cref="Commit"/> writes everything staged since the last commit as one
/// checksummed batch with one write and one fdatasync, whatever the number of groups. A group's writes of a round are
/// therefore atomic together, and a node with many busy groups pays one fsync per round instead of one per group.
/// </summary>
/// <remarks>
/// <para>Groups are reached through their views, <see cref="Group"/> (an <see cref="ILogStorage"/>) and
/// <see cref="HardState"/> (an <see cref="IHardStateStore"/>). A view's writes are <em>staged</em>: they change the
/// in-memory index at once (reads see them) and become durable with the next <see cref="Commit"/> of the log, which
/// a view's <c>Flush</c> is. Every call takes one lock: the node host calls from its loop thread only.</para>
/// <para>Files rotate at <see cref="SharedLogOptions.FileSize"/>; every file starts with a checkpoint of every
/// group's bounds, terms and hard state, so only entries keep a file alive: once no live entry is in a file older
/// than the active one, it is deleted (<see cref="FilesDeleted"/>). A group that never compacts (idle, or slow to
/// snapshot) would keep its oldest file and every later one alive, so when the sealed files hold more than
/// <see cref="SharedLogOptions.RelocationRatio"/> times the live bytes in them, the live entries of the groups
/// pinning the oldest file are rewritten into the active file (<see cref="EntriesRelocated"/>) and the old files go:
/// disk stays bounded by live data.</para>
/// <para>A failed write or fdatasync faults the log: every later call throws, for every group (the node must stop;
/// what reached the disk of the failed round is unknown). Recovery replays the files in order, cuts a torn final
/// batch of the last file, and refuses anything else that fails its checksum with the file and byte offset.</para>
/// </remarks>
public sealed partial class SharedLog : IDisposable
{
    private readonly object _gate = new();
    private readonly string _directory;
    private readonly SharedLogOptions _options;
    private readonly Dictionary<long, SharedGroupState> _groups = new();
    private readonly SortedDictionary<long, SafeFileHandle> _files = new();
    private readonly Dictionary<long, long> _dataEnd = new(); // per file: where its batches end (zeros written ahead not counted)
    private FileStream? _lockFile;
    private long _storeId;
    private long _active;         // sequence of the file being written
    private long _writeOffset;    // where the next batch goes in the active file (everything before it is durable)
    private long _zeroedTo;       // the active file holds zeros up to here
    private long _nextBatch = 1;  // sequence of the next batch
    private byte[] _pending = new byte[64 << 10]; // the batch being staged: header space, then items
    private int _pendingLength;
    private Exception? _fault;
    private bool _disposed;

    /// <summary>The log's directory.</summary>
    public string Directory => _directory;

    /// <summary>Batches written (each one write and one fdatasync), checkpoints included.</summary>
    public long Commits { get; private set; }

    /// <summary>fdatasync calls on log files (a directory fsync is not counted).</summary>
    public long DataSyncs { get; private set; }

    /// <summary>How long the newest batch's fdatasync took (the device's part of a commit; metrics).</summary>
    public TimeSpan LastDataSyncDuration { get; private set; }

    /// <summary>Files started since the log was opened (the one opened with it included).</summary>
    public long Rotations { get; private set; }

    /// <summary>Files deleted since the log was opened because no live entry was left in them.</summary>
    public long FilesDeleted { get; private set; }

    /// <summary>Why the log refuses further use (a write or fdatasync failed), or null while it works.</summary>
    public Exception? Failure
    {
        get { lock (_gate) return _fault; }
    }

    /// <summary>Entries rewritten from old files into the active one so the old files could be deleted.</summary>
    public long EntriesRelocated { get; private set; }

    /// <summary>The live files, oldest first.</summary>
    public IReadOnlyList<string> Files
    {
        get { lock (_gate) return _files.Keys.Select(FilePath).ToList(); }
    }

    /// <summary>The ids of the open groups.</summary>
    public IReadOnlyList<long> GroupIds
    {
        get { lock (_gate) return _groups.Keys.Order().ToList(); }
    }

    /// <summary>Whether <paramref name="groupId"/> is open in the log.</summary>
    public bool Contains(long groupId)
    {
        lock (_gate) return _groups.ContainsKey(groupId);
    }

    /// <summary>The log view of <paramref name="groupId"/>, opening the group (empty, at index 1) if the log does not hold
    /// it; the opening is staged like any write.</summary>
    public SharedGroupLog Group(long groupId) => new(this, GroupState(groupId));

    /// <summary>The hard-state view of <paramref name="groupId"/>, opening the group as <see cref="Group"/> does.</summary>
    public SharedHardState HardState(long groupId) => new(this, GroupState(groupId));

    /// <summary>Removes a group and makes its removal durable; its views throw afterwards. No-op for an unknown group.</summary>
    public void RemoveGroup(long groupId)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            if (!_groups.ContainsKey(groupId)) return;
            Stage(groupId, SharedItem.Remove, 0, out _);
            _groups.Remove(groupId);
            CommitLocked();
        }
    }

    /// <summary>Makes everything staged durable: one batch, one write, one fdatasync (none when nothing is staged).
    /// Then rotates the file when it is full and deletes files no live entry needs.</summary>
    /// <exception cref="StorageException">The write or fdatasync failed; the log is faulted for good.</exception>
    public void Commit()
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            CommitLocked();
        }
    }

    /// <summary>Groups whose oldest live entry is in the oldest file, when there is more than one: they keep every
    /// file alive; snapshotting and compacting them frees disk.</summary>
    public IReadOnlyList<long> PinningGroups()
    {
        lock (_gate)
        {
            if (_files.Count < 2) return [];
            long oldest = _files.Keys.First();
            return _groups.Values.Where(g => g.OldestFile() == oldest).Select(g => g.Id).Order().ToList();
        }
    }

    /// <summary>Commits what is staged (unless the log is faulted) and closes the files.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            try
            {
                if (_fault is null && _files.ContainsKey(_active)) CommitLocked();
            }
            finally
            {
                _disposed = true;
                foreach (var h in _files.Values) h.Dispose();
                _files.Clear();
                _lockFile?.Dispose();
            }
        }
    }


    // ---- Used by the views, under the lock ----

    internal object Gate => _gate;

    internal void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_fault is not null)
            throw new StorageException($"The shared log in '{_directory}' failed earlier and refuses further use: {_fault.Message}", _directory, _fault);
    }

    internal void ThrowIfGone(SharedGroupState g)
    {
        ThrowIfUnusable();
        if (!_groups.TryGetValue(g.Id, out var current) || !ReferenceEquals(current, g))
            throw new ObjectDisposedException($"group {g.Id} of the shared log", "The group was removed from the shared log.");
    }

    internal void StageEntries(SharedGroupState g, ReadOnlySpan<LogRecord> records)
    {
        long bytes = 0;
        foreach (ref readonly var r in records) bytes += r.Payload.Length;
        var into = Stage(g.Id, SharedItem.Entries, SharedLogItems.EntriesSize(records.Length, bytes), out long at);
        Check(g.ApplyEntries(records[0].Index, SharedLogItems.EncodeEntries(into, records, _active, at)));
    }

    internal void StageTruncate(SharedGroupState g, long from)
    {
        BinaryPrimitives.WriteInt64LittleEndian(Stage(g.Id, SharedItem.Truncate, 8, out _), from);
        Check(g.ApplyTruncate(from));
    }

    internal void StageCompaction(SharedGroupState g, long index, long term, bool keepLater)
    {
        var into = Stage(g.Id, keepLater ? SharedItem.CompactTo : SharedItem.Reset, 16, out _);
        BinaryPrimitives.WriteInt64LittleEndian(into, index);
        BinaryPrimitives.WriteInt64LittleEndian(into[8..], term);
        if (keepLater) Check(g.ApplyCompactTo(index, term));
        else g.ApplyReset(index, term);
    }

    internal void StageHardState(SharedGroupState g, ReadOnlySpan<byte> state)
    {
        state.CopyTo(Stage(g.Id, SharedItem.HardState, state.Length, out _));
        g.HardState = state.ToArray();
    }

    internal void CommitLocked()
    {
        if (_pendingLength == 0) return;
        try
        {
            WriteBatch();
            if (_writeOffset >= _options.FileSize)
            {
                StartFile(_active + 1);
                CollectGarbage();
            }
        }
        catch (Exception e)
        {
            _fault = e;
            throw e as StorageException ?? StorageErrors.Wrap(e, "write", FilePath(_active));
        }
    }

    /// <summary>The payload of an entry: from the staged batch when it is not written yet, otherwise read from its file.</summary>
    internal byte[] ReadPayload(in EntryRef e)
    {
        var payload = new byte[e.Length];
        if (e.File == _active && e.Offset >= _writeOffset)
        {
            _pending.AsSpan((int)(e.Offset - _writeOffset), e.Length).CopyTo(payload);
            return payload;
        }
        var path = FilePath(e.File);
        try
        {
            int read = 0;
            while (read < payload.Length)
            {
                int n = RandomAccess.Read(_files[e.File], payload.AsSpan(read), e.Offset + read);
                if (n == 0) throw new StorageCorruptedException(path, e.Offset + read, "an entry's payload ends past the end of the file", StorageCorruptedException.LogAdvice);
                read += n;
            }
        }
        catch (Exception ex) when (ex is IOException and not StorageException || ex is UnauthorizedAccessException)
        {
            throw StorageErrors.Wrap(ex, "read", path);
        }
        return payload;
    }

    // ---- The write path ----

    private SharedGroupState GroupState(long groupId)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            if (_groups.TryGetValue(groupId, out var g)) return g;
            // The incarnation is the batch the opening is written in: unique and increasing without bookkeeping.
            BinaryPrimitives.WriteInt64LittleEndian(Stage(groupId, SharedItem.Open, 8, out _), _nextBatch);
            return _groups[groupId] = new SharedGroupState(groupId, _nextBatch);
        }
    }

    /// <summary>Adds an item to the staged batch; returns its payload's space, and where that payload will be in the file.</summary>
    private Span<byte> Stage(long groupId, SharedItem type, int payloadLength, out long fileOffset)
    {
        if (_pendingLength == 0) _pendingLength = SharedLogFormat.BatchHeaderSize;
        int end = checked(_pendingLength + SharedLogFormat.ItemHeaderSize + payloadLength);
        EnsurePending(end + 8);
        var item = _pending.AsSpan(_pendingLength);
        BinaryPrimitives.WriteInt64LittleEndian(item, groupId);
        item[8] = (byte)type;
        BinaryPrimitives.WriteInt32LittleEndian(item[9..], payloadLength);
        int payloadStart = _pendingLength + SharedLogFormat.ItemHeaderSize;
        fileOffset = _writeOffset + payloadStart;
        _pendingLength = end;
        return _pending.AsSpan(payloadStart, payloadLength);
    }

    private void EnsurePending(int size)
    {
        if (size <= _pending.Length) return;
        Array.Resize(ref _pending, Math.Max(size, _pending.Length * 2));
    }

    /// <summary>Writes the staged batch at the end of the active file and fdatasyncs it.</summary>
    private void WriteBatch()
    {
        int body = _pendingLength - SharedLogFormat.BatchHeaderSize;
        int total = SharedLogFormat.Align8(_pendingLength);
        EnsurePending(total);
        _pending.AsSpan(_pendingLength, total - _pendingLength).Clear();
        var header = _pending.AsSpan(0, SharedLogFormat.BatchHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header, SharedLogFormat.BatchMarker);
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], body);
        BinaryPrimitives.WriteInt64LittleEndian(header[8..], _nextBatch);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], SharedLogFormat.BatchCrc(_active, _nextBatch, _pending.AsSpan(SharedLogFormat.BatchHeaderSize, body)));
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], 0);
        var handle = _files[_active];
        var path = FilePath(_active);
        try
        {
            _options.Disk.Write(handle, _pending.AsSpan(0, total), _writeOffset, path);
            long end = _writeOffset + total;
            if (_options.ZeroAheadBytes > 0 && end > _zeroedTo)
            {
                long to = end + _options.ZeroAheadBytes;
                WriteZeros(handle, path, Math.Max(end, _zeroedTo), to);
                _zeroedTo = to;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "write", path); }
        var syncStarted = Stopwatch.GetTimestamp();
        _options.Disk.DataSync(handle, path);
        LastDataSyncDuration = Stopwatch.GetElapsedTime(syncStarted);
        DataSyncs++;
        Commits++;
        _writeOffset += total;
        _dataEnd[_active] = _writeOffset;
        _nextBatch++;
        _pendingLength = 0;
    }

    private static readonly byte[] s_zeros = new byte[64 << 10];

    private void WriteZeros(SafeFileHandle handle, string path, long from, long to)
    {
        for (long at = from; at < to; at += s_zeros.Length)
            _options.Disk.Write(handle, s_zeros.AsSpan(0, (int)Math.Min(s_zeros.Length, to - at)), at, path);
    }

    /// <summary>Starts file <paramref name="sequence"/>: its header and a checkpoint of every group, durable (file and
    /// directory) before any other batch goes into it. Called with nothing staged.</summary>
    private void StartFile(long sequence)
    {
        var path = FilePath(sequence);
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
            Span<byte> header = stackalloc byte[SharedLogFormat.HeaderSize];
            SharedLogFormat.WriteHeader(header, sequence, _storeId);
            _options.Disk.Write(handle, header, 0, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "create", path); }
        _files[sequence] = handle;
        _active = sequence;
        _writeOffset = _zeroedTo = SharedLogFormat.HeaderSize;
        Rotations++;
        int size = SharedLogItems.CheckpointSize(_groups.Values, out var listed);
        SharedLogItems.EncodeCheckpoint(Stage(0, SharedItem.Checkpoint, size, out _), listed);
        WriteBatch();
        NativeMethods.SyncDirectory(_directory);
    }

    private string FilePath(long sequence) => Path.Combine(_directory, SharedLogFormat.FileName(sequence));

    private void Check(string? problem)
    {
        // The views check their arguments first (LogContract), so an item the index refuses is a bug here.
        if (problem is not null) throw new InvalidOperationException($"Shared log '{_directory}': {problem}");
    }
}
