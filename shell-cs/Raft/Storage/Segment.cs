using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Raft.Storage;

/// <summary>In-memory state of one segment file and its sparse index. Owned by <see cref="FileLogStorage"/> and only
/// touched under its lock.</summary>
internal sealed class Segment : IDisposable
{
    /// <summary>Index of the first record; also the file name. Never changes.</summary>
    public readonly long FirstIndex;
    public readonly string SegmentPath;
    public readonly string IndexPath;

    /// <summary>Last record's index; <c>FirstIndex - 1</c> while empty.</summary>
    public long LastIndex;
    /// <summary>Last record's term (meaningless while empty).</summary>
    public long LastTerm;
    /// <summary>Bytes in the file including ones still in the write buffer; the next record starts here.</summary>
    public long Length;
    /// <summary>Size of the file on disk (active segment): at least the bytes written so far; beyond them the file holds
    /// zeros written ahead of the records (<see cref="FileLogOptions.PreallocateSize"/>).</summary>
    public long Allocated;

    /// <summary>Sparse index, ascending: the first record, every term change, and a record at least every
    /// <see cref="FileLogOptions.IndexInterval"/> bytes. Every term change being a point is what lets the log
    /// rebuild its term runs from the index files alone.</summary>
    public IndexPoint[] Points = new IndexPoint[16];
    public int PointCount;
    /// <summary>How many of <see cref="Points"/> are already written to the index file.</summary>
    public int PointsOnDisk;

    /// <summary>Complete and fsynced, with a seal entry in its index; only the last segment is ever unsealed.</summary>
    public bool Sealed;
    /// <summary>Has bytes written since its last fdatasync.</summary>
    public bool Dirty;

    /// <summary>Open for reading and (while active) writing; opened lazily for sealed segments.</summary>
    public SafeFileHandle? Handle;
    public bool HandleWritable;
    /// <summary>Open while the segment is active.</summary>
    public SafeFileHandle? IndexHandle;

    public Segment(string directory, long firstIndex)
    {
        FirstIndex = firstIndex;
        LastIndex = firstIndex - 1;
        SegmentPath = Path.Combine(directory, SegmentFormat.SegmentName(firstIndex));
        IndexPath = Path.Combine(directory, SegmentFormat.IndexName(firstIndex));
    }

    public bool IsEmpty => LastIndex < FirstIndex;

    public long LastPointOffset => PointCount == 0 ? 0 : Points[PointCount - 1].Offset;

    public void AddPoint(IndexPoint point)
    {
        if (PointCount == Points.Length) Array.Resize(ref Points, PointCount * 2);
        Points[PointCount++] = point;
    }

    /// <summary>Position in <see cref="Points"/> of the last point at or before <paramref name="index"/>.</summary>
    public int FindPoint(long index)
    {
        int lo = 0, hi = PointCount - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >> 1;
            if (Points[mid].Index <= index) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    /// <summary>Drops points for records at or after <paramref name="index"/>.</summary>
    public void TruncatePoints(long index)
    {
        while (PointCount > 0 && Points[PointCount - 1].Index >= index) PointCount--;
        PointsOnDisk = Math.Min(PointsOnDisk, PointCount);
    }

    public SafeFileHandle ReadHandle()
    {
        if (Handle is null)
        {
            try { Handle = File.OpenHandle(SegmentPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "open segment", SegmentPath); }
            HandleWritable = false;
        }
        return Handle;
    }

    public SafeFileHandle WriteHandle()
    {
        if (Handle is null || !HandleWritable)
        {
            Handle?.Dispose();
            Handle = null;
            try { Handle = File.OpenHandle(SegmentPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "open segment for writing", SegmentPath); }
            HandleWritable = true;
        }
        return Handle;
    }

    public void Dispose()
    {
        Handle?.Dispose();
        Handle = null;
        IndexHandle?.Dispose();
        IndexHandle = null;
    }
}

/// <summary>Reads a file through one pooled buffer; consecutive small reads cost one system call per buffer.</summary>
internal sealed class ChunkReader : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly long _fileLength;
    private byte[] _buffer;
    private long _bufferStart;
    private int _bufferLength;

    public ChunkReader(SafeFileHandle handle, long fileLength, int bufferSize = 128 << 10)
    {
        _handle = handle;
        _fileLength = fileLength;
        _buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
    }

    /// <summary>The bytes at <paramref name="offset"/>; shorter than <paramref name="count"/> at the end of the file.
    /// Valid until the next call.</summary>
    public ReadOnlySpan<byte> Get(long offset, int count)
    {
        if (offset >= _bufferStart && offset + count <= _bufferStart + _bufferLength)
            return _buffer.AsSpan((int)(offset - _bufferStart), count);
        if (count > _buffer.Length)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(count);
        }
        int toRead = (int)Math.Max(0, Math.Min(_buffer.Length, _fileLength - offset));
        int n = 0;
        while (n < toRead)
        {
            int r = RandomAccess.Read(_handle, _buffer.AsSpan(n, toRead - n), offset + n);
            if (r == 0) break;
            n += r;
        }
        _bufferStart = offset;
        _bufferLength = n;
        return _buffer.AsSpan(0, Math.Min(n, count));
    }

    public void Dispose()
    {
        var b = _buffer;
        _buffer = [];
        if (b.Length > 0) ArrayPool<byte>.Shared.Return(b);
    }
}

/// <summary>Writes a small file atomically: temp file, fdatasync, rename over the target, fsync the directory.
/// A reader sees the old content or the new one, never a mix, at any crash point.</summary>
internal static class AtomicFile
{
    public const string TempSuffix = ".tmp";

    public static void Write(string directory, string fileName, ReadOnlySpan<byte> content)
    {
        string path = Path.Combine(directory, fileName), temp = path + TempSuffix;
        try
        {
            using (var h = File.OpenHandle(temp, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
            {
                RandomAccess.Write(h, content, 0);
                NativeMethods.DataSync(h, temp);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (Exception) { /* best effort; recovery deletes leftovers */ }
            throw StorageErrors.Wrap(e, "write", path);
        }
        NativeMethods.SyncDirectory(directory);
    }
}
