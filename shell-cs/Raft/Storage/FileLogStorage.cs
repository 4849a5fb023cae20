namespace Raft.Storage;

/// <summary>
/// The Raft log on disk: a directory of segment files named by their first index, every record framed with its length
/// and CRC-32C, each segment with a sparse offset index so opening does not read the whole log. See README.md in this
/// folder for the format and the recovery rules. Open with <see cref="Open"/>.
/// </summary>
/// <remarks>Thread-safe. Appends go to a write buffer that reaches the file at the next <see cref="Flush"/>,
/// <see cref="ReadRange"/> or when full; <see cref="Flush"/> writes it, then fdatasyncs outside the lock so appends
/// continue meanwhile. After any failed write or fsync the log refuses further use (the file state is unknown until
/// it is reopened and recovered).</remarks>
public sealed partial class FileLogStorage : ILogStorage
{
    private readonly string _directory;
    private readonly FileLogOptions _options;
    private readonly object _gate = new();      // guards all state below
    private readonly object _flushGate = new(); // serialises flushes (held across fsync, unlike _gate)
    private readonly List<Segment> _segments = new();
    private readonly TermRuns _runs = new();    // terms of _firstIndex.._lastIndex
    private long _firstIndex = 1;
    private long _prevTerm;                     // term at _firstIndex - 1
    private long _lastIndex;
    private readonly SegmentWriter _writer;     // the active segment's write buffer, zeros ahead and index points
    private bool _directoryDirty;               // a segment was created since the last directory fsync
    private Exception? _fault;
    private bool _disposed;
    private FileStream? _lockFile;
    private readonly Func<long, long> _termAtLocked; // cached: no delegate allocation per append

    private FileLogStorage(string directory, FileLogOptions options)
    {
        _directory = directory;
        _options = options;
        _writer = new SegmentWriter(options, Fault);
        _termAtLocked = TermAtLocked;
    }

    /// <summary>The directory holding the log.</summary>
    public string Directory => _directory;

    /// <summary>What opening the log found and repaired.</summary>
    public LogRecoveryReport Recovery { get; private set; } = null!;

    /// <summary>Number of segment files.</summary>
    public int SegmentCount { get { lock (_gate) return _segments.Count; } }

    public long FirstIndex => Volatile.Read(ref _firstIndex);

    public long LastIndex => Volatile.Read(ref _lastIndex);

    private Segment? Active => _segments.Count > 0 && !_segments[^1].Sealed ? _segments[^1] : null;

    public long TermAt(long index)
    {
        lock (_gate)
        {
            if (index == _firstIndex - 1) return _prevTerm;
            if (index < _firstIndex || index > _lastIndex) throw LogContract.TermOutOfRange(index, _firstIndex, _lastIndex);
            return _runs.TermAt(index);
        }
    }

    private long TermAtLocked(long index) => index == _firstIndex - 1 ? _prevTerm : _runs.TermAt(index);

    public void Append(ReadOnlySpan<LogRecord> records)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            LogContract.CheckAppend(records, _firstIndex, _lastIndex, _termAtLocked);
            if (records.IsEmpty) return;
            if (records[0].Index <= _lastIndex) TruncateLocked(records[0].Index);
            for (int i = 0; i < records.Length; i++) AppendOne(in records[i]);
        }
    }

    private void AppendOne(in LogRecord record)
    {
        var payload = record.Payload.Span;
        if (payload.Length > _options.MaxRecordSize)
            throw new ArgumentException($"Payload of {payload.Length} bytes at index {record.Index} exceeds MaxRecordSize {_options.MaxRecordSize}.");
        int size = SegmentFormat.RecordHeaderSize + payload.Length;
        var seg = Active;
        if (seg is null || (!seg.IsEmpty && seg.Length + size > _options.SegmentSize)) seg = Roll(record.Index);
        _writer.Append(seg, in record);
        _runs.Add(record.Index, record.Term);
        Volatile.Write(ref _lastIndex, record.Index);
    }

    /// <summary>Seals the active segment (index seal entry, both files fsynced) and starts a new one at
    /// <paramref name="firstIndex"/>. The new file becomes durable with the next flush's directory fsync.</summary>
    private Segment Roll(long firstIndex)
    {
        if (Active is { } old) _writer.Seal(old);
        var seg = new Segment(_directory, firstIndex);
        try
        {
            seg.Handle = File.OpenHandle(seg.SegmentPath, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            seg.HandleWritable = true;
            seg.IndexHandle = File.OpenHandle(seg.IndexPath, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            Span<byte> header = stackalloc byte[SegmentFormat.FileHeaderSize];
            SegmentFormat.WriteFileHeader(header, SegmentFormat.IndexMagic, firstIndex);
            RandomAccess.Write(seg.IndexHandle, header, 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            seg.Dispose();
            throw Fault(StorageErrors.Wrap(e, "create segment", seg.SegmentPath));
        }
        _writer.Start(seg);
        _segments.Add(seg);
        _directoryDirty = true;
        return seg;
    }

    /// <summary>Writes the write buffer and the new index points of the active segment (no fsync).</summary>
    private void WriteOutLocked() => _writer.WriteOut(Active);

    public IReadOnlyList<LogRecord> ReadRange(long from, long toInclusive, long maxBytes = long.MaxValue)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            LogContract.CheckRead(from, _firstIndex);
            long to = Math.Min(toInclusive, _lastIndex);
            if (from > to) return Array.Empty<LogRecord>();
            WriteOutLocked();
            var result = new List<LogRecord>((int)Math.Min(to - from + 1, 256));
            long bytes = 0, next = from;
            for (int si = FindSegment(from); si < _segments.Count && next <= to; si++)
            {
                var seg = _segments[si];
                var point = seg.Points[seg.FindPoint(next)];
                long offset = point.Offset, index = point.Index;
                using var reader = new ChunkReader(seg.ReadHandle(), seg.Length);
                while (index <= seg.LastIndex && next <= to)
                {
                    var hs = reader.Get(offset, SegmentFormat.RecordHeaderSize);
                    if (hs.Length < SegmentFormat.RecordHeaderSize || !SegmentFormat.CheckRecordHeader(hs, out var h))
                        throw Corrupt(seg.SegmentPath, offset, "record header checksum mismatch or short read");
                    if (h.Index != index || h.Length > _options.MaxRecordSize)
                        throw Corrupt(seg.SegmentPath, offset, $"record holds index {h.Index} where {index} was expected");
                    // A sealed segment's terms were recovered from its index file, not from its records: a record that
                    // disagrees with them is served as neither (an entry with the wrong term breaks log matching).
                    if (index >= next && h.Term != TermAtLocked(index))
                        throw Corrupt(seg.SegmentPath, offset, $"record for index {index} has term {h.Term} but the segment's index says term {TermAtLocked(index)}");
                    if (index >= next)
                    {
                        bytes += h.Length;
                        if (result.Count > 0 && bytes > maxBytes) return result;
                        var ps = reader.Get(offset + SegmentFormat.RecordHeaderSize, h.Length);
                        if (ps.Length < h.Length || Crc32C.Compute(ps) != h.PayloadCrc)
                            throw Corrupt(seg.SegmentPath, offset, $"payload checksum mismatch in the record for index {index}");
                        result.Add(new LogRecord(index, h.Term, ps.ToArray()));
                        next++;
                    }
                    offset += SegmentFormat.RecordHeaderSize + h.Length;
                    index++;
                }
            }
            return result;
        }
    }

    private static StorageCorruptedException Corrupt(string path, long offset, string reason) =>
        new(path, offset, reason, StorageCorruptedException.LogAdvice);

    /// <summary>Position in <see cref="_segments"/> of the segment holding <paramref name="index"/>.</summary>
    private int FindSegment(long index)
    {
        int lo = 0, hi = _segments.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >> 1;
            if (_segments[mid].FirstIndex <= index) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    public void TruncateSuffix(long fromIndex)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            LogContract.CheckTruncate(fromIndex, _firstIndex);
            if (fromIndex <= _lastIndex) TruncateLocked(fromIndex);
        }
    }

    /// <summary>Removes records from <paramref name="fromIndex"/> on, durably before returning, so old records can
    /// never reappear behind new ones after a crash.</summary>
    private void TruncateLocked(long fromIndex)
    {
        WriteOutLocked();
        bool deleted = false;
        while (_segments.Count > 0 && _segments[^1].FirstIndex >= fromIndex)
        {
            DeleteSegment(_segments[^1]);
            _segments.RemoveAt(_segments.Count - 1);
            deleted = true;
        }
        if (deleted) SyncDirectory();
        if (_segments.Count > 0)
        {
            var seg = _segments[^1];
            try
            {
                if (fromIndex <= seg.LastIndex)
                {
                    long offset = FindOffset(seg, fromIndex);
                    var h = seg.WriteHandle();
                    RandomAccess.SetLength(h, offset);
                    NativeMethods.DataSync(h, seg.SegmentPath);
                    seg.Length = seg.Allocated = offset;
                    seg.LastIndex = fromIndex - 1;
                    seg.LastTerm = TermAtLocked(fromIndex - 1);
                    seg.TruncatePoints(fromIndex);
                }
                else
                {
                    seg.WriteHandle();
                    if (seg.Sealed) seg.Allocated = seg.Length;
                }
                seg.IndexHandle ??= File.OpenHandle(seg.IndexPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
                seg.PointsOnDisk = seg.PointCount;
                RandomAccess.SetLength(seg.IndexHandle, SegmentFormat.FileHeaderSize + (long)seg.PointCount * SegmentFormat.IndexEntrySize);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Fault(StorageErrors.Wrap(e, "truncate", seg.SegmentPath));
            }
            seg.Sealed = false;
            seg.Dirty = false;
            _writer.Reset(seg.Length);
        }
        _runs.TruncateFrom(fromIndex);
        Volatile.Write(ref _lastIndex, fromIndex - 1);
    }

    /// <summary>Byte offset of the record for <paramref name="index"/> in <paramref name="seg"/> (its length when
    /// <paramref name="index"/> is one past its end).</summary>
    private long FindOffset(Segment seg, long index)
    {
        if (index == seg.LastIndex + 1) return seg.Length;
        var point = seg.Points[seg.FindPoint(index)];
        long offset = point.Offset;
        using var reader = new ChunkReader(seg.ReadHandle(), seg.Length);
        for (long i = point.Index; i < index; i++)
        {
            var hs = reader.Get(offset, SegmentFormat.RecordHeaderSize);
            if (hs.Length < SegmentFormat.RecordHeaderSize || !SegmentFormat.CheckRecordHeader(hs, out var h) || h.Index != i)
                throw Corrupt(seg.SegmentPath, offset, "record header checksum mismatch");
            offset += SegmentFormat.RecordHeaderSize + h.Length;
        }
        return offset;
    }

    public void CompactPrefix(long upToInclusive, long termAtThatIndex)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            if (upToInclusive < _firstIndex) return;
            bool keepSuffix = upToInclusive < _lastIndex && _runs.TermAt(upToInclusive) == termAtThatIndex;
            Span<byte> meta = stackalloc byte[SegmentFormat.MetaSize];
            SegmentFormat.WriteMeta(meta, upToInclusive + 1, termAtThatIndex);
            if (keepSuffix)
            {
                // The compaction point first: a crash before the deletions only leaves files recovery deletes.
                WriteMeta(meta);
                bool deleted = false;
                while (_segments.Count > 1 && _segments[1].FirstIndex <= upToInclusive + 1)
                {
                    DeleteSegment(_segments[0]);
                    _segments.RemoveAt(0);
                    deleted = true;
                }
                if (deleted) SyncDirectory();
                _runs.CompactTo(upToInclusive + 1);
            }
            else
            {
                // Segments first: a crash before the new compaction point is written leaves an empty log at the old
                // one (the host reinstalls its snapshot), never old records after a point they conflict with.
                foreach (var seg in _segments) DeleteSegment(seg);
                _segments.Clear();
                _writer.Reset(0);
                SyncDirectory();
                WriteMeta(meta);
                _runs.Clear();
                Volatile.Write(ref _lastIndex, upToInclusive);
            }
            Volatile.Write(ref _firstIndex, upToInclusive + 1);
            _prevTerm = termAtThatIndex;
        }
    }

    private void WriteMeta(ReadOnlySpan<byte> meta)
    {
        try { AtomicFile.Write(_directory, SegmentFormat.MetaFileName, meta); }
        catch (Exception e) { throw Fault(e); }
    }

    private void DeleteSegment(Segment seg)
    {
        seg.Dispose();
        try
        {
            File.Delete(seg.SegmentPath);
            File.Delete(seg.IndexPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Fault(StorageErrors.Wrap(e, "delete", seg.SegmentPath));
        }
    }

    private void SyncDirectory()
    {
        try { NativeMethods.SyncDirectory(_directory); }
        catch (Exception e) { throw Fault(e); }
    }

    public void Flush()
    {
        lock (_flushGate)
        {
            Segment? seg;
            bool syncDirectory;
            lock (_gate)
            {
                ThrowIfUnusable();
                WriteOutLocked();
                seg = Active is { Dirty: true } a ? a : null;
                if (seg is not null) seg.Dirty = false;
                syncDirectory = _directoryDirty;
                _directoryDirty = false;
            }
            try
            {
                if (seg?.Handle is { } h)
                {
                    try { NativeMethods.DataSync(h, seg.SegmentPath); }
                    catch (ObjectDisposedException) { /* deleted by a truncation meanwhile: its records are gone anyway */ }
                }
                if (syncDirectory) NativeMethods.SyncDirectory(_directory);
            }
            catch (Exception e)
            {
                lock (_gate) throw Fault(e);
            }
        }
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) =>
        cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled(cancellationToken) : new ValueTask(Task.Run(Flush, cancellationToken));

    /// <summary>Reads every retained record and checks its checksums (the open path only checks the tail of the
    /// last segment; reads check what they read). Throws <see cref="StorageCorruptedException"/> at the first failure.</summary>
    public void Verify()
    {
        for (long i = FirstIndex, last = LastIndex; i <= last;)
            i += ReadRange(i, last, 4 << 20).Count;
    }

    private Exception Fault(Exception e)
    {
        _fault ??= e;
        return e;
    }

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_fault is not null)
            throw new StorageException(
                $"The log in '{_directory}' is unusable after an earlier failure ({_fault.Message}). After a failed write " +
                "or fsync the state of the files is unknown: restart the node; opening the log recovers it.", _directory, _fault);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            try
            {
                if (_fault is null && Active is { } seg)
                {
                    WriteOutLocked();
                    bool trimmed = seg.Allocated > seg.Length;
                    _writer.TrimZeros(seg);
                    if ((seg.Dirty || trimmed) && seg.Handle is { } h) NativeMethods.DataSync(h, seg.SegmentPath);
                    if (_directoryDirty) NativeMethods.SyncDirectory(_directory);
                }
            }
            catch (StorageException) { /* already recorded as a fault; the files are recovered on open */ }
            finally
            {
                _disposed = true;
                foreach (var s in _segments) s.Dispose();
                _segments.Clear();
                _writer.Dispose();
                _lockFile?.Dispose();
            }
        }
    }
}

/// <summary>What <see cref="FileLogStorage.Open"/> did to bring the files to a consistent state.</summary>
/// <param name="SegmentCount">Segments in the log after opening.</param>
/// <param name="ScannedBytes">Bytes of record data read to open (the tail of the last segment, plus any segment whose
/// index had to be rebuilt).</param>
/// <param name="TruncatedTailBytes">Bytes cut from the end of the last segment (a torn write).</param>
/// <param name="RebuiltIndexFiles">Index files that were missing or damaged and were rebuilt from their segment.</param>
/// <param name="DeletedFiles">Leftovers removed: temp files, empty or fully compacted segments, orphan index files.</param>
public sealed record LogRecoveryReport(
    int SegmentCount, long ScannedBytes, long TruncatedTailBytes, IReadOnlyList<string> RebuiltIndexFiles, IReadOnlyList<string> DeletedFiles);
