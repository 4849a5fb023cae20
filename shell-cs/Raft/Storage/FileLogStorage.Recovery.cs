namespace Raft.Storage;

public sealed partial class FileLogStorage
{
    /// <summary>Opens (and recovers) the log in <paramref name="directory"/>.</summary>
    /// <exception cref="StorageException">The directory is missing (and <see cref="FileLogOptions.CreateIfMissing"/> is
    /// off), unreadable, or the log is open in another process.</exception>
    /// <exception cref="StorageCorruptedException">A checksum or sequence check failed anywhere but the torn tail.</exception>
    public static FileLogStorage Open(string directory, FileLogOptions? options = null)
    {
        options ??= new FileLogOptions();
        options.Validate();
        string dir = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(dir))
        {
            if (File.Exists(dir))
                throw new StorageException($"The log directory '{dir}' is a file, not a directory.", dir);
            if (!options.CreateIfMissing)
                throw new StorageException(
                    $"The log directory '{dir}' does not exist. If this is a new node, create it (or set " +
                    "FileLogOptions.CreateIfMissing); if the node had data, check that its volume is mounted: starting " +
                    "with an empty log would make it forget entries it acknowledged.", dir);
            try
            {
                System.IO.Directory.CreateDirectory(dir);
                if (Path.GetDirectoryName(dir) is { } parent) NativeMethods.SyncDirectory(parent);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "create directory", dir); }
        }
        var log = new FileLogStorage(dir, options);
        try
        {
            log.Recover();
            return log;
        }
        catch
        {
            log._fault = null;
            log._disposed = true;
            foreach (var s in log._segments) s.Dispose();
            log._lockFile?.Dispose();
            throw;
        }
    }

    private sealed class RecoveryState
    {
        public long ScannedBytes, TruncatedBytes;
        public readonly List<string> Rebuilt = new(), Deleted = new();
        public bool DirectoryChanged;
    }

    private void Recover()
    {
        var state = new RecoveryState();
        try
        {
            _lockFile = new FileStream(Path.Combine(_directory, SegmentFormat.LockFileName), FileMode.OpenOrCreate,
                FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (UnauthorizedAccessException e) { throw StorageErrors.Wrap(e, "open the lock file in", _directory); }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException && e.HResult is 11 or 35 or 32 or -2147024864)
        {
            throw new StorageException($"The log in '{_directory}' is already open in another process (its lock file is held). " +
                                       "Stop the other process; two writers would corrupt the log.", _directory, e);
        }
        catch (IOException e) { throw StorageErrors.Wrap(e, "open the lock file in", _directory); }

        string[] files;
        try { files = System.IO.Directory.GetFiles(_directory); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "list", _directory); }

        long metaFirst = 1, metaPrevTerm = 0;
        string metaPath = Path.Combine(_directory, SegmentFormat.MetaFileName);
        var firsts = new List<long>();
        var indexFiles = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in files)
        {
            string name = Path.GetFileName(f);
            if (SegmentFormat.TryParseSegmentName(name, out long first)) firsts.Add(first);
            else if (name.EndsWith(SegmentFormat.IndexExtension, StringComparison.Ordinal)) indexFiles.Add(name);
            else if (name == SegmentFormat.MetaFileName + AtomicFile.TempSuffix) DeleteLeftover(f, state);
        }
        if (File.Exists(metaPath))
        {
            byte[] bytes = ReadAll(metaPath);
            if (SegmentFormat.TryReadMeta(bytes, out metaFirst, out metaPrevTerm) is { } why)
                throw Corrupt(metaPath, 0, $"compaction point file is damaged ({why})");
        }
        firsts.Sort();
        foreach (var name in indexFiles)
            if (!SegmentFormat.TryParseSegmentName(name[..^SegmentFormat.IndexExtension.Length] + SegmentFormat.SegmentExtension, out long f) || firsts.BinarySearch(f) < 0)
                DeleteLeftover(Path.Combine(_directory, name), state);

        Span<byte> header = stackalloc byte[SegmentFormat.FileHeaderSize];
        for (int i = 0; i < firsts.Count; i++)
        {
            var seg = new Segment(_directory, firsts[i]);
            bool isLast = i == firsts.Count - 1;
            long length;
            var h = isLast ? seg.WriteHandle() : seg.ReadHandle();
            try { length = RandomAccess.GetLength(h); }
            catch (IOException e) { throw StorageErrors.Wrap(e, "read", seg.SegmentPath); }
            int n = length >= SegmentFormat.FileHeaderSize ? RandomAccess.Read(h, header, 0) : 0;
            string? bad = n < SegmentFormat.FileHeaderSize ? "file header is incomplete" : SegmentFormat.CheckFileHeader(header, SegmentFormat.SegmentMagic, seg.FirstIndex);
            if (bad is not null)
            {
                // A crash right after creating the last segment can leave it shorter than its header: it holds nothing.
                if (isLast && length < SegmentFormat.FileHeaderSize)
                {
                    seg.Dispose();
                    DeleteLeftover(seg.SegmentPath, state);
                    DeleteLeftover(seg.IndexPath, state);
                    continue;
                }
                seg.Dispose();
                throw Corrupt(seg.SegmentPath, 0, bad);
            }
            _segments.Add(seg);
            if (isLast) LoadActive(seg, length, state);
            else LoadSealed(seg, length, state);
        }

        // Segments wholly at or below the compaction point are leftovers of an interrupted compaction.
        while (_segments.Count > 0 && _segments[0].LastIndex < metaFirst)
        {
            var seg = _segments[0];
            _segments.RemoveAt(0);
            seg.Dispose();
            DeleteLeftover(seg.SegmentPath, state);
            DeleteLeftover(seg.IndexPath, state);
        }
        for (int i = 0; i < _segments.Count; i++)
        {
            var seg = _segments[i];
            long expected = i == 0 ? metaFirst : _segments[i - 1].LastIndex + 1;
            if (i == 0 ? seg.FirstIndex > expected : seg.FirstIndex != expected)
                throw Corrupt(seg.SegmentPath, 0, i == 0
                    ? $"the log should start at index {expected} but its first segment starts at {seg.FirstIndex} (a segment file is missing)"
                    : $"segment starts at index {seg.FirstIndex} but the previous segment ends at {expected - 1} (a segment file is missing or out of place)");
        }

        _firstIndex = metaFirst;
        _prevTerm = metaPrevTerm;
        _lastIndex = _segments.Count > 0 ? Math.Max(_segments[^1].LastIndex, metaFirst - 1) : metaFirst - 1;
        foreach (var seg in _segments)
            for (int p = 0; p < seg.PointCount; p++) _runs.Add(seg.Points[p].Index, seg.Points[p].Term);
        if (_lastIndex >= _firstIndex)
        {
            // When the compaction point lies inside the first segment, the log and log.meta must agree on its term.
            if (_segments[0].FirstIndex <= _firstIndex - 1 && _runs.TermAt(_firstIndex - 1) is var logTerm && logTerm != metaPrevTerm)
                throw Corrupt(metaPath, 0, $"the compaction point says term {metaPrevTerm} at index {_firstIndex - 1} but the log has term {logTerm}");
            _runs.CompactTo(_firstIndex);
        }
        else
        {
            _runs.Clear();
        }
        long decrease = _runs.FirstDecrease(_prevTerm);
        if (decrease >= 0)
        {
            var seg = _segments[FindSegment(decrease)];
            throw Corrupt(seg.SegmentPath, seg.Points[seg.FindPoint(decrease)].Offset, $"the term decreases at index {decrease}");
        }

        _writer.Reset(Active?.Length ?? 0);
        if (state.DirectoryChanged) NativeMethods.SyncDirectory(_directory);
        Recovery = new LogRecoveryReport(_segments.Count, state.ScannedBytes, state.TruncatedBytes, state.Rebuilt, state.Deleted);
    }

    private void DeleteLeftover(string path, RecoveryState state)
    {
        try
        {
            if (!File.Exists(path)) return;
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "delete", path); }
        state.Deleted.Add(path);
        state.DirectoryChanged = true;
    }

    private static byte[] ReadAll(string path)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "read", path); }
    }

    /// <summary>Index entries of a segment's index file: the valid prefix of points, and the seal if the file is
    /// complete. Returns null when the file is missing or its header is bad.</summary>
    private List<(IndexPoint Point, uint Kind)>? ReadIndexFile(Segment seg, long segmentLength, out bool clean)
    {
        clean = false;
        if (!File.Exists(seg.IndexPath)) return null;
        byte[] bytes = ReadAll(seg.IndexPath);
        if (SegmentFormat.CheckFileHeader(bytes, SegmentFormat.IndexMagic, seg.FirstIndex) is not null) return null;
        var entries = new List<(IndexPoint, uint)>(Math.Max(0, (bytes.Length - SegmentFormat.FileHeaderSize) / SegmentFormat.IndexEntrySize));
        long prevIndex = seg.FirstIndex - 1, prevOffset = 0, prevTerm = -1;
        int pos = SegmentFormat.FileHeaderSize;
        for (; pos + SegmentFormat.IndexEntrySize <= bytes.Length; pos += SegmentFormat.IndexEntrySize)
        {
            if (!SegmentFormat.TryReadIndexEntry(bytes.AsSpan(pos), out var p, out uint kind)) break;
            if (kind == SegmentFormat.KindPoint)
            {
                bool first = entries.Count == 0;
                if (first ? p.Index != seg.FirstIndex || p.Offset != SegmentFormat.FileHeaderSize : p.Index <= prevIndex || p.Offset <= prevOffset) break;
                if (p.Term < prevTerm || p.Offset >= segmentLength) break;
                entries.Add((p, kind));
                (prevIndex, prevOffset, prevTerm) = (p.Index, p.Offset, p.Term);
            }
            else if (kind == SegmentFormat.KindSeal)
            {
                if (entries.Count == 0 || p.Index < prevIndex || p.Term < prevTerm || p.Offset != segmentLength) break;
                entries.Add((p, kind));
                pos += SegmentFormat.IndexEntrySize;
                break;
            }
            else break;
        }
        clean = pos == bytes.Length;
        return entries;
    }

    /// <summary>A segment other than the last: its metadata comes from its sealed index file. A missing or damaged
    /// index is rebuilt by scanning the segment, which must then be entirely valid.</summary>
    private void LoadSealed(Segment seg, long length, RecoveryState state)
    {
        var entries = ReadIndexFile(seg, length, out bool clean);
        if (entries is { Count: > 0 } && clean && entries[^1].Kind == SegmentFormat.KindSeal)
        {
            for (int i = 0; i < entries.Count - 1; i++) seg.AddPoint(entries[i].Point);
            var seal = entries[^1].Point;
            seg.LastIndex = seal.Index;
            seg.LastTerm = seal.Term;
            seg.Length = seal.Offset;
        }
        else
        {
            seg.PointCount = 0;
            long end = Scan(seg, seg.ReadHandle(), length, SegmentFormat.FileHeaderSize, seg.FirstIndex, isLast: false, state);
            if (end != length) throw Corrupt(seg.SegmentPath, end, "trailing bytes after the last record");
            seg.Length = end;
            RewriteSealedIndex(seg);
            state.Rebuilt.Add(seg.IndexPath);
            state.DirectoryChanged = true;
        }
        seg.PointsOnDisk = seg.PointCount;
        seg.Sealed = true;
        if (seg.IsEmpty) throw Corrupt(seg.SegmentPath, SegmentFormat.FileHeaderSize, "a segment other than the last holds no records");
    }

    private void RewriteSealedIndex(Segment seg)
    {
        var bytes = new byte[SegmentFormat.FileHeaderSize + (seg.PointCount + 1) * SegmentFormat.IndexEntrySize];
        SegmentFormat.WriteFileHeader(bytes, SegmentFormat.IndexMagic, seg.FirstIndex);
        int pos = SegmentFormat.FileHeaderSize;
        for (int i = 0; i < seg.PointCount; i++, pos += SegmentFormat.IndexEntrySize)
            SegmentFormat.WriteIndexEntry(bytes.AsSpan(pos), seg.Points[i].Index, seg.Points[i].Term, seg.Points[i].Offset, SegmentFormat.KindPoint);
        SegmentFormat.WriteIndexEntry(bytes.AsSpan(pos), seg.LastIndex, seg.LastTerm, seg.Length, SegmentFormat.KindSeal);
        AtomicFile.Write(_directory, Path.GetFileName(seg.IndexPath), bytes);
    }

    /// <summary>The last segment: trust the valid prefix of its index, scan from the last point, cut a torn tail,
    /// and reopen the index for appending.</summary>
    private void LoadActive(Segment seg, long length, RecoveryState state)
    {
        var entries = ReadIndexFile(seg, length, out _);
        if (entries is not null)
            foreach (var (p, kind) in entries)
                if (kind == SegmentFormat.KindPoint) seg.AddPoint(p);
        var h = seg.WriteHandle();
        long end;
        while (true)
        {
            // Scan from the last trusted point; if even its first record is bad, the point itself is suspect (an index
            // entry that reached the disk before its record did), so step back one point.
            long from = SegmentFormat.FileHeaderSize, index = seg.FirstIndex;
            if (seg.PointCount > 0)
            {
                var last = seg.Points[seg.PointCount - 1];
                (from, index) = (last.Offset, last.Index);
                seg.PointCount--;
                seg.LastTerm = seg.PointCount > 0 ? seg.Points[seg.PointCount - 1].Term : 0;
            }
            seg.LastIndex = index - 1;
            end = Scan(seg, h, length, from, index, isLast: true, state, stopAtFirstFailure: seg.PointCount > 0);
            if (end >= 0) break;
        }
        if (end < length)
        {
            try
            {
                RandomAccess.SetLength(h, end);
                NativeMethods.DataSync(h, seg.SegmentPath);
            }
            catch (IOException e) { throw StorageErrors.Wrap(e, "truncate the torn tail of", seg.SegmentPath); }
            state.TruncatedBytes += length - end;
        }
        seg.Length = seg.Allocated = end;
        try
        {
            seg.IndexHandle = File.OpenHandle(seg.IndexPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            var bytes = new byte[SegmentFormat.FileHeaderSize + seg.PointCount * SegmentFormat.IndexEntrySize];
            SegmentFormat.WriteFileHeader(bytes, SegmentFormat.IndexMagic, seg.FirstIndex);
            for (int i = 0; i < seg.PointCount; i++)
                SegmentFormat.WriteIndexEntry(bytes.AsSpan(SegmentFormat.FileHeaderSize + i * SegmentFormat.IndexEntrySize),
                    seg.Points[i].Index, seg.Points[i].Term, seg.Points[i].Offset, SegmentFormat.KindPoint);
            RandomAccess.Write(seg.IndexHandle, bytes, 0);
            RandomAccess.SetLength(seg.IndexHandle, bytes.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "rewrite", seg.IndexPath); }
        seg.PointsOnDisk = seg.PointCount;
    }

    /// <summary>Reads records from <paramref name="offset"/> (expected to hold <paramref name="index"/>) to the end,
    /// adding index points. Returns where valid data ends. In the last segment a torn tail ends the scan; anything else
    /// that fails is corruption. With <paramref name="stopAtFirstFailure"/>, returns -1 when the very first record is
    /// bad so the caller can retry from an earlier point.</summary>
    private long Scan(Segment seg, Microsoft.Win32.SafeHandles.SafeFileHandle h, long length, long offset, long index,
        bool isLast, RecoveryState state, bool stopAtFirstFailure = false)
    {
        using var reader = new ChunkReader(h, length, 1 << 20);
        long start = offset;
        bool forcePoint = true;
        while (offset < length)
        {
            string? failure = null;
            bool torn = false;
            long remaining = length - offset;
            if (remaining < SegmentFormat.RecordHeaderSize)
            {
                failure = "incomplete record header at the end of the file";
                torn = true;
            }
            else if (!SegmentFormat.CheckRecordHeader(reader.Get(offset, SegmentFormat.RecordHeaderSize), out var hdr))
            {
                failure = "record header checksum mismatch";
                torn = isLast && CutShortBefore(h, offset, offset + SegmentFormat.RecordHeaderSize, length);
            }
            else if (hdr.Index != index)
                failure = $"record holds index {hdr.Index} where {index} was expected";
            else if (hdr.Length > _options.MaxRecordSize)
                failure = $"record length {hdr.Length} exceeds MaxRecordSize";
            else if (!seg.IsEmpty && hdr.Term < seg.LastTerm)
                failure = $"term {hdr.Term} at index {index} is lower than the previous term {seg.LastTerm}";
            else if (remaining < SegmentFormat.RecordHeaderSize + (long)hdr.Length)
            {
                failure = "record extends past the end of the file";
                torn = true;
            }
            else if (Crc32C.Compute(reader.Get(offset + SegmentFormat.RecordHeaderSize, hdr.Length)) != hdr.PayloadCrc)
            {
                // Not a torn write when the record is complete: a crash leaves a record short (the file size follows
                // the data on journaling file systems), not complete-length with different bytes. In the zeros written
                // ahead of the records a short write shows as zeros from a sector boundary inside the record on.
                failure = $"payload checksum mismatch in the record for index {index}";
                torn = isLast && CutShortBefore(h, offset, offset + SegmentFormat.RecordHeaderSize + hdr.Length, length);
            }
            else
            {
                if (forcePoint || seg.LastTerm != hdr.Term || offset - seg.LastPointOffset >= _options.IndexInterval)
                    seg.AddPoint(new IndexPoint(index, hdr.Term, offset));
                forcePoint = false;
                seg.LastIndex = index;
                seg.LastTerm = hdr.Term;
                offset += SegmentFormat.RecordHeaderSize + hdr.Length;
                index++;
                continue;
            }
            state.ScannedBytes += offset - start;
            if (isLast && (torn || _options.TruncateCorruptTail)) return offset;
            if (stopAtFirstFailure && offset == start) return -1;
            throw Corrupt(seg.SegmentPath, offset, failure);
        }
        state.ScannedBytes += offset - start;
        return offset;
    }

    /// <summary>Granularity at which a write cut short by a crash can end on disk (a sector; page-cache writes end at
    /// page boundaries, which are sector boundaries too).</summary>
    private const int TearGranularity = 512;

    /// <summary>Whether the record at <paramref name="offset"/> (ending at <paramref name="recordEnd"/>) is a write cut
    /// short: from <paramref name="offset"/> or from a sector boundary before <paramref name="recordEnd"/> on, every
    /// byte to the end of the file is zero (what a crash leaves in a tail extended with zeros ahead of the records).
    /// A complete record whose bytes differ is not: that is damage.</summary>
    private static bool CutShortBefore(Microsoft.Win32.SafeHandles.SafeFileHandle h, long offset, long recordEnd, long length)
    {
        long zerosFrom = TrailingZerosStart(h, offset, length);
        if (zerosFrom <= offset) return true;
        long cut = (zerosFrom + TearGranularity - 1) / TearGranularity * TearGranularity;
        return cut < recordEnd;
    }

    /// <summary>The smallest position at or after <paramref name="from"/> from which the file holds only zeros
    /// (<paramref name="length"/> when its last byte is not zero). Reads backwards from the end.</summary>
    private static long TrailingZerosStart(Microsoft.Win32.SafeHandles.SafeFileHandle h, long from, long length)
    {
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 << 10);
        try
        {
            long end = length;
            while (end > from)
            {
                int n = (int)Math.Min(buffer.Length, end - from);
                long at = end - n;
                int read = 0;
                while (read < n)
                {
                    int r = RandomAccess.Read(h, buffer.AsSpan(read, n - read), at + read);
                    if (r == 0) return end; // the file shrank under us: treat what is missing as not zero
                    read += r;
                }
                int last = buffer.AsSpan(0, n).LastIndexOfAnyExcept((byte)0);
                if (last >= 0) return at + last + 1;
                end = at;
            }
            return from;
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
    }
}
