using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Raft.Storage;

/// <summary>What a stored snapshot covers.</summary>
/// <param name="Index">Last log index included in the snapshot.</param>
/// <param name="Term">Term of that entry.</param>
/// <param name="Configuration">The cluster configuration at that index, encoded by the host.</param>
/// <param name="DataLength">Bytes of state-machine data.</param>
/// <param name="FilePath">Where it is stored.</param>
public sealed record SnapshotMetadata(long Index, long Term, byte[] Configuration, long DataLength, string FilePath);

/// <summary>Snapshot files: written atomically (whole or in chunks), the latest read back with its checksums verified.</summary>
public interface ISnapshotStore
{
    /// <summary>Metadata of the snapshot with the highest index, or null if there is none.</summary>
    SnapshotMetadata? Latest();

    /// <summary>Opens the latest snapshot's data, or null if there is none.</summary>
    SnapshotReader? OpenLatest();

    /// <summary>Opens the snapshot at <paramref name="index"/> and <paramref name="term"/>, or returns null when it is not
    /// stored (any more). A store that keeps only its latest snapshot may use the default.</summary>
    SnapshotReader? Open(long index, long term)
    {
        var reader = OpenLatest();
        if (reader is null || (reader.Metadata.Index == index && reader.Metadata.Term == term)) return reader;
        reader.Dispose();
        return null;
    }

    /// <summary>Writes a complete snapshot from <paramref name="data"/> (read to its end); durable when it returns.</summary>
    SnapshotMetadata Write(long index, long term, ReadOnlySpan<byte> configuration, Stream data);

    /// <summary>Starts a snapshot written in chunks (InstallSnapshot); invisible until <see cref="SnapshotWriter.Complete"/>.</summary>
    SnapshotWriter BeginWrite(long index, long term, ReadOnlySpan<byte> configuration);

    /// <summary>Starts a snapshot received from a leader in chunks, whose progress <see cref="SnapshotWriter.Checkpoint"/>
    /// makes durable so that the transfer resumes after a restart (<see cref="ResumeReceive"/>). Any earlier partially
    /// received snapshot is discarded. A store that cannot resume returns a plain <see cref="BeginWrite"/> writer.</summary>
    SnapshotWriter BeginReceive(long index, long term, ReadOnlySpan<byte> configuration, long transferId) => BeginWrite(index, term, configuration);

    /// <summary>The snapshot that was being received when the node stopped: a writer positioned at the end of its last
    /// checkpoint, or null when there is none. A record or partial file that is damaged, incomplete, or not newer than
    /// <see cref="Latest"/> is deleted and null returned, with <paramref name="discarded"/> saying why (file and offset).</summary>
    /// <exception cref="StorageException">The files cannot be read (I/O error, permission); names the file.</exception>
    SnapshotWriter? ResumeReceive(out string? discarded)
    {
        discarded = null;
        return null;
    }

    /// <summary>Deletes snapshots (and partially received ones) with an index below <paramref name="index"/>; returns
    /// how many complete snapshots it deleted.</summary>
    int DeleteOlderThan(long index);
}

/// <summary>
/// Snapshots as files <c>{index:D20}-{term:D20}.snap</c> in one directory. Layout (little-endian):
/// <c>magic "RSNP" u32 | version u16 | flags u16 | index i64 | term i64 | dataLength i64 | configLength u32 |
/// configCrc u32 | dataCrc u32 | headerCrc u32</c> (48 bytes, the header CRC covering the first 44), then the
/// configuration, then the data. A snapshot is written to <c>.snap.tmp</c>, fdatasynced, renamed, and the directory
/// fsynced, so a crash leaves either no new snapshot or a complete one. A snapshot received from a leader is written to
/// <c>.snap.partial</c> instead, with its durable progress in the <c>receiving</c> record (see
/// <see cref="ResumeReceive"/>).
/// </summary>
public sealed partial class FileSnapshotStore : ISnapshotStore
{
    internal const uint Magic = 0x504E5352; // "RSNP"
    internal const ushort Version = 1;
    internal const int HeaderSize = 48;
    private const string Extension = ".snap";
    private readonly string _directory;

    /// <param name="directory">Directory of the snapshot files.</param>
    /// <param name="createIfMissing">Create the directory if it does not exist (otherwise a clear error).</param>
    public FileSnapshotStore(string directory, bool createIfMissing = false)
    {
        _directory = Path.GetFullPath(directory);
        try
        {
            if (!System.IO.Directory.Exists(_directory))
            {
                if (!createIfMissing)
                    throw new StorageException($"The snapshot directory '{_directory}' does not exist. Create it for a new node; " +
                                               "for an existing node check that its volume is mounted.", _directory);
                System.IO.Directory.CreateDirectory(_directory);
                if (Path.GetDirectoryName(_directory) is { } parent) NativeMethods.SyncDirectory(parent);
            }
            foreach (var tmp in System.IO.Directory.GetFiles(_directory, "*" + Extension + AtomicFile.TempSuffix)) File.Delete(tmp);
            File.Delete(Path.Combine(_directory, ReceivingRecord.FileName + AtomicFile.TempSuffix)); // an interrupted checkpoint
        }
        catch (Exception e) when (e is IOException and not StorageException or UnauthorizedAccessException)
        {
            throw StorageErrors.Wrap(e, "open snapshot directory", _directory);
        }
    }

    /// <summary>The directory of the snapshot files.</summary>
    public string Directory => _directory;

    internal static string FileName(long index, long term) => $"{index:D20}-{term:D20}{Extension}";

    private List<(long Index, long Term, string Path)> List()
    {
        var result = new List<(long Index, long Term, string Path)>();
        string[] files;
        try { files = System.IO.Directory.GetFiles(_directory, "*" + Extension); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "list", _directory); }
        foreach (var f in files)
        {
            var name = Path.GetFileName(f.AsSpan());
            if (name.Length == 41 + Extension.Length && name[20] == '-'
                && long.TryParse(name[..20], System.Globalization.NumberStyles.None, null, out long index)
                && long.TryParse(name.Slice(21, 20), System.Globalization.NumberStyles.None, null, out long term))
                result.Add((index, term, f));
        }
        result.Sort((a, b) => a.Index != b.Index ? a.Index.CompareTo(b.Index) : a.Term.CompareTo(b.Term));
        return result;
    }

    public SnapshotMetadata? Latest()
    {
        var all = List();
        if (all.Count == 0) return null;
        using var h = OpenRead(all[^1].Path);
        return ReadMetadata(h, all[^1].Path, all[^1].Index, all[^1].Term);
    }

    public SnapshotReader? OpenLatest()
    {
        var all = List();
        if (all.Count == 0) return null;
        return ReaderOf(OpenRead(all[^1].Path), all[^1].Path, all[^1].Index, all[^1].Term);
    }

    public SnapshotReader? Open(long index, long term)
    {
        var path = Path.Combine(_directory, FileName(index, term));
        SafeFileHandle h;
        try { h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete); }
        catch (FileNotFoundException) { return null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "open snapshot", path); }
        return ReaderOf(h, path, index, term);
    }

    /// <summary>A reader over an open snapshot file (the handle is closed if its header is bad).</summary>
    private static SnapshotReader ReaderOf(SafeFileHandle h, string path, long index, long term)
    {
        try
        {
            var meta = ReadMetadata(h, path, index, term);
            return new SnapshotReader(meta, h, HeaderSize + meta.Configuration.Length, ReadDataCrc(h));
        }
        catch
        {
            h.Dispose();
            throw;
        }
    }

    private static SafeFileHandle OpenRead(string path)
    {
        try { return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "open snapshot", path); }
    }

    private static uint ReadDataCrc(SafeFileHandle h)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        RandomAccess.Read(h, header, 0);
        return BinaryPrimitives.ReadUInt32LittleEndian(header[40..]);
    }

    private static SnapshotMetadata ReadMetadata(SafeFileHandle h, string path, long nameIndex, long nameTerm)
    {
        static StorageCorruptedException Bad(string path, long offset, string reason) =>
            new(path, offset, reason, StorageCorruptedException.SnapshotAdvice);
        long length = RandomAccess.GetLength(h);
        Span<byte> header = stackalloc byte[HeaderSize];
        if (length < HeaderSize || RandomAccess.Read(h, header, 0) < HeaderSize) throw Bad(path, 0, "snapshot header is incomplete");
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[44..]) != Crc32C.Compute(header[..44])) throw Bad(path, 0, "snapshot header checksum mismatch");
        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic) throw Bad(path, 0, "not a snapshot file (wrong magic number)");
        if (BinaryPrimitives.ReadUInt16LittleEndian(header[4..]) != Version) throw Bad(path, 4, "unsupported snapshot format version");
        long index = BinaryPrimitives.ReadInt64LittleEndian(header[8..]), term = BinaryPrimitives.ReadInt64LittleEndian(header[16..]);
        long dataLength = BinaryPrimitives.ReadInt64LittleEndian(header[24..]);
        int configLength = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(header[32..]), int.MaxValue);
        if (index != nameIndex || term != nameTerm) throw Bad(path, 8, $"header says index {index} term {term}, the file name says {nameIndex}/{nameTerm}");
        if (length != HeaderSize + (long)configLength + dataLength)
            throw Bad(path, Math.Min(length, HeaderSize + (long)configLength + dataLength), $"snapshot file is {length} bytes, expected {HeaderSize + (long)configLength + dataLength} (truncated or extended)");
        var config = new byte[configLength];
        RandomAccess.Read(h, config, HeaderSize);
        if (Crc32C.Compute(config) != BinaryPrimitives.ReadUInt32LittleEndian(header[36..])) throw Bad(path, HeaderSize, "snapshot configuration checksum mismatch");
        return new SnapshotMetadata(index, term, config, dataLength, path);
    }

    public SnapshotMetadata Write(long index, long term, ReadOnlySpan<byte> configuration, Stream data)
    {
        using var writer = BeginWrite(index, term, configuration);
        byte[] buf = ArrayPool<byte>.Shared.Rent(256 << 10);
        try
        {
            int n;
            while ((n = data.Read(buf, 0, buf.Length)) > 0) writer.Write(buf.AsSpan(0, n));
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
        return writer.Complete();
    }

    public SnapshotWriter BeginWrite(long index, long term, ReadOnlySpan<byte> configuration)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfNegative(term);
        return new SnapshotWriter(_directory, FileName(index, term), index, term, configuration, receiving: false, transferId: 0);
    }

    public int DeleteOlderThan(long index)
    {
        int n = 0;
        foreach (var (i, _, path) in List())
        {
            if (i >= index) continue;
            try { File.Delete(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "delete", path); }
            n++;
        }
        bool partials = DeleteReceivingOlderThan(index);
        if (n > 0 || partials) NativeMethods.SyncDirectory(_directory);
        return n;
    }
}

/// <summary>An open snapshot: its metadata and a forward-only stream of its data that verifies the data checksum when
/// it reaches the end (throwing <see cref="StorageCorruptedException"/> on a mismatch).</summary>
public sealed class SnapshotReader : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly long _dataStart;

    internal SnapshotReader(SnapshotMetadata metadata, SafeFileHandle handle, long dataStart, uint expectedCrc)
    {
        Metadata = metadata;
        (_handle, _dataStart) = (handle, dataStart);
        Data = new VerifyingStream(handle, dataStart, metadata.DataLength, expectedCrc, metadata.FilePath);
    }

    public SnapshotMetadata Metadata { get; }

    public Stream Data { get; }

    /// <summary>Reads data bytes at <paramref name="offset"/> into <paramref name="buffer"/> (as many as fit, fewer at the
    /// end), without moving <see cref="Data"/> and without checking the data checksum: the random access a leader sending
    /// chunks needs (each chunk travels in a checksummed frame). The open file stays readable after it is deleted.</summary>
    /// <returns>The number of bytes read (0 at or past the end).</returns>
    public int ReadAt(long offset, Span<byte> buffer)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var want = (int)Math.Min(buffer.Length, Math.Max(0, Metadata.DataLength - offset));
        var read = 0;
        try
        {
            while (read < want)
            {
                var n = RandomAccess.Read(_handle, buffer[read..want], _dataStart + offset + read);
                if (n == 0) throw new StorageCorruptedException(Metadata.FilePath, _dataStart + offset + read, "snapshot data ends early", StorageCorruptedException.SnapshotAdvice);
                read += n;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "read snapshot", Metadata.FilePath); }
        return read;
    }

    public void Dispose() => Data.Dispose();

    private sealed class VerifyingStream(SafeFileHandle handle, long start, long length, uint expected, string path) : Stream
    {
        private long _position;
        private uint _crc = Crc32C.Seed;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            long left = length - _position;
            if (left <= 0 || buffer.IsEmpty) return 0;
            int n = RandomAccess.Read(handle, buffer[..(int)Math.Min(buffer.Length, left)], start + _position);
            if (n == 0) throw new StorageCorruptedException(path, start + _position, "snapshot data ends early", StorageCorruptedException.SnapshotAdvice);
            _crc = Crc32C.Append(_crc, buffer[..n]);
            _position += n;
            if (_position == length && Crc32C.Finish(_crc) != expected)
                throw new StorageCorruptedException(path, start, "snapshot data checksum mismatch", StorageCorruptedException.SnapshotAdvice);
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) handle.Dispose();
            base.Dispose(disposing);
        }
    }
}
