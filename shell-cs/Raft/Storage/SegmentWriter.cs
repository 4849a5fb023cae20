using System.Buffers;

namespace Raft.Storage;

/// <summary>
/// The write path of <see cref="FileLogStorage"/>'s active segment: frames records into a write buffer and writes it,
/// with the zeros ahead of the records and the segment's new index points, when the log asks (a flush, a read, a full
/// buffer); cuts the zeros off and seals a segment. It neither locks nor fsyncs (except when sealing): the log calls it
/// under its lock and fsyncs at a flush.
/// </summary>
/// <remarks>A failed write is passed to the log's fault function before it is thrown, so the log refuses further
/// use.</remarks>
internal sealed class SegmentWriter : IDisposable
{
    private static readonly byte[] Zeros = new byte[64 << 10];

    private readonly FileLogOptions _options;
    private readonly Func<Exception, Exception> _fault;
    private byte[] _buffer;     // bytes of the active segment not yet written
    private int _length;
    private long _fileOffset;   // where _buffer[0] goes in the active segment

    /// <param name="options">The log's options (buffer size, record and segment sizes, index interval, zeros ahead).</param>
    /// <param name="fault">Records a failure in the log and returns the exception to throw.</param>
    public SegmentWriter(FileLogOptions options, Func<Exception, Exception> fault)
    {
        _options = options;
        _fault = fault;
        _buffer = ArrayPool<byte>.Shared.Rent(options.WriteBufferSize);
    }

    /// <summary>The active segment's buffer is empty and its next write goes to <paramref name="fileOffset"/> (after
    /// opening, truncating or deleting every segment).</summary>
    public void Reset(long fileOffset)
    {
        _fileOffset = fileOffset;
        _length = 0;
    }

    /// <summary>A new segment becomes the active one: its file header is the first thing buffered.</summary>
    public void Start(Segment seg)
    {
        SegmentFormat.WriteFileHeader(_buffer, SegmentFormat.SegmentMagic, seg.FirstIndex);
        _length = SegmentFormat.FileHeaderSize;
        _fileOffset = 0;
        seg.Length = SegmentFormat.FileHeaderSize;
        seg.Dirty = true;
    }

    /// <summary>Frames <paramref name="record"/> at the end of the active segment <paramref name="seg"/>, adding an
    /// index point for the segment's first record, a term change, or every <see cref="FileLogOptions.IndexInterval"/>
    /// bytes. A record larger than the buffer is written at once.</summary>
    public void Append(Segment seg, in LogRecord record)
    {
        var payload = record.Payload.Span;
        int size = SegmentFormat.RecordHeaderSize + payload.Length;
        long offset = seg.Length;
        if (seg.PointCount == 0 || seg.LastTerm != record.Term || offset - seg.LastPointOffset >= _options.IndexInterval)
            seg.AddPoint(new IndexPoint(record.Index, record.Term, offset));

        if (_length + size > _buffer.Length) WriteOut(seg);
        if (size > _buffer.Length)
        {
            byte[] big = ArrayPool<byte>.Shared.Rent(size);
            try
            {
                payload.CopyTo(big.AsSpan(SegmentFormat.RecordHeaderSize));
                SegmentFormat.WriteRecordHeader(big, record.Index, record.Term, payload);
                WriteFile(seg, big.AsSpan(0, size), offset);
            }
            finally { ArrayPool<byte>.Shared.Return(big); }
            _fileOffset = offset + size;
        }
        else
        {
            var dst = _buffer.AsSpan(_length, size);
            payload.CopyTo(dst[SegmentFormat.RecordHeaderSize..]);
            SegmentFormat.WriteRecordHeader(dst, record.Index, record.Term, payload);
            _length += size;
        }
        seg.Length = offset + size;
        seg.LastIndex = record.Index;
        seg.LastTerm = record.Term;
        seg.Dirty = true;
    }

    /// <summary>Writes the write buffer and the new index points of the active segment <paramref name="seg"/> (no
    /// fsync); nothing when there is no active segment or nothing buffered.</summary>
    public void WriteOut(Segment? seg)
    {
        if (seg is null || _length == 0) return;
        bool extends = _fileOffset + _length > seg.Allocated;
        WriteFile(seg, _buffer.AsSpan(0, _length), _fileOffset);
        _fileOffset += _length;
        _length = 0;
        if (extends) WriteZerosAhead(seg, _fileOffset);
        WriteIndexEntries(seg, seal: false);
    }

    /// <summary>Seals the active segment <paramref name="old"/>: writes what is buffered, cuts the zeros ahead, writes the
    /// seal entry, fdatasyncs both files and closes the index file.</summary>
    public void Seal(Segment old)
    {
        WriteOut(old);
        TrimZeros(old);
        WriteIndexEntries(old, seal: true);
        NativeMethods.DataSync(old.WriteHandle(), old.SegmentPath);
        NativeMethods.DataSync(old.IndexHandle!, old.IndexPath);
        old.IndexHandle!.Dispose();
        old.IndexHandle = null;
        old.Sealed = true;
        old.Dirty = false;
    }

    /// <summary>This write grew the file: extend it with zeros (<see cref="FileLogOptions.PreallocateSize"/>) in the
    /// same flush, so the flushes after it overwrite existing blocks instead of growing the file each time.</summary>
    private void WriteZerosAhead(Segment seg, long from)
    {
        long to = Math.Min(from + _options.PreallocateSize, Math.Max(from, _options.SegmentSize));
        to -= to % 4096;
        for (long at = from; at < to;)
        {
            int n = (int)Math.Min(Zeros.Length, to - at);
            WriteFile(seg, Zeros.AsSpan(0, n), at);
            at += n;
        }
    }

    private void WriteFile(Segment seg, ReadOnlySpan<byte> bytes, long offset)
    {
        try { RandomAccess.Write(seg.WriteHandle(), bytes, offset); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw _fault(StorageErrors.Wrap(e, "write", seg.SegmentPath)); }
        seg.Allocated = Math.Max(seg.Allocated, offset + bytes.Length);
    }

    /// <summary>Cuts the zeros written ahead of the records, so the file ends at its last record (a sealed segment's
    /// length must equal its seal; a closed log's files hold only records). The caller fdatasyncs.</summary>
    public void TrimZeros(Segment seg)
    {
        if (seg.Allocated <= seg.Length) return;
        try { RandomAccess.SetLength(seg.WriteHandle(), seg.Length); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw _fault(StorageErrors.Wrap(e, "truncate", seg.SegmentPath)); }
        seg.Allocated = seg.Length;
    }

    private void WriteIndexEntries(Segment seg, bool seal)
    {
        int n = seg.PointCount - seg.PointsOnDisk + (seal ? 1 : 0);
        if (n == 0) return;
        byte[] buf = ArrayPool<byte>.Shared.Rent(n * SegmentFormat.IndexEntrySize);
        try
        {
            int pos = 0;
            for (int i = seg.PointsOnDisk; i < seg.PointCount; i++, pos += SegmentFormat.IndexEntrySize)
            {
                var p = seg.Points[i];
                SegmentFormat.WriteIndexEntry(buf.AsSpan(pos), p.Index, p.Term, p.Offset, SegmentFormat.KindPoint);
            }
            if (seal) SegmentFormat.WriteIndexEntry(buf.AsSpan(pos), seg.LastIndex, seg.LastTerm, seg.Length, SegmentFormat.KindSeal);
            long at = SegmentFormat.FileHeaderSize + (long)seg.PointsOnDisk * SegmentFormat.IndexEntrySize;
            RandomAccess.Write(seg.IndexHandle!, buf.AsSpan(0, n * SegmentFormat.IndexEntrySize), at);
            seg.PointsOnDisk = seg.PointCount;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw _fault(StorageErrors.Wrap(e, "write", seg.IndexPath)); }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    /// <summary>Returns the buffer to the pool; the writer is not used again.</summary>
    public void Dispose()
    {
        var b = _buffer;
        _buffer = [];
        if (b.Length > 0) ArrayPool<byte>.Shared.Return(b);
    }
}
