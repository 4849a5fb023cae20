using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Raft.Storage;

/// <summary>Writes one snapshot: data arrives in order (chunks may be re-sent; bytes already written are skipped) and
/// <see cref="Complete"/> publishes it atomically. Disposing without completing deletes the partial file.</summary>
public sealed class SnapshotWriter : IDisposable
{
    private readonly string _directory, _fileName, _tempPath;
    private readonly long _index, _term;
    private readonly byte[] _configuration;
    private SafeFileHandle? _handle;
    private long _written;
    private uint _crc = Crc32C.Seed;
    private bool _completed;

    internal SnapshotWriter(string directory, string fileName, long index, long term, ReadOnlySpan<byte> configuration)
    {
        (_directory, _fileName, _index, _term) = (directory, fileName, index, term);
        _tempPath = Path.Combine(directory, fileName + AtomicFile.TempSuffix);
        _configuration = configuration.ToArray();
        try
        {
            _handle = File.OpenHandle(_tempPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
            RandomAccess.Write(_handle, _configuration, FileSnapshotStore.HeaderSize);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Dispose();
            throw StorageErrors.Wrap(e, "create snapshot", _tempPath);
        }
    }

    /// <summary>Data bytes received so far (the next expected offset).</summary>
    public long BytesWritten => _written;

    /// <summary>Writes <paramref name="data"/> at data offset <paramref name="offset"/>, which must not be past
    /// <see cref="BytesWritten"/>; the part already written is skipped (a re-sent chunk).</summary>
    public void WriteChunk(long offset, ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_handle is null || _completed, this);
        if (offset > _written || offset < 0)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Chunk at offset {offset} leaves a gap: {_written} bytes received so far.");
        long skip = _written - offset;
        if (skip >= data.Length) return;
        var fresh = data[(int)skip..];
        try { RandomAccess.Write(_handle, fresh, FileSnapshotStore.HeaderSize + _configuration.Length + _written); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "write", _tempPath); }
        _crc = Crc32C.Append(_crc, fresh);
        _written += fresh.Length;
    }

    /// <summary>Appends <paramref name="data"/>.</summary>
    public void Write(ReadOnlySpan<byte> data) => WriteChunk(_written, data);

    /// <summary>Writes the header, fdatasyncs, renames into place and fsyncs the directory.</summary>
    public SnapshotMetadata Complete()
    {
        ObjectDisposedException.ThrowIf(_handle is null || _completed, this);
        Span<byte> header = stackalloc byte[FileSnapshotStore.HeaderSize];
        header.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(header, FileSnapshotStore.Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], FileSnapshotStore.Version);
        BinaryPrimitives.WriteInt64LittleEndian(header[8..], _index);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], _term);
        BinaryPrimitives.WriteInt64LittleEndian(header[24..], _written);
        BinaryPrimitives.WriteUInt32LittleEndian(header[32..], (uint)_configuration.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[36..], Crc32C.Compute(_configuration));
        BinaryPrimitives.WriteUInt32LittleEndian(header[40..], Crc32C.Finish(_crc));
        BinaryPrimitives.WriteUInt32LittleEndian(header[44..], Crc32C.Compute(header[..44]));
        string path = Path.Combine(_directory, _fileName);
        try
        {
            RandomAccess.Write(_handle, header, 0);
            NativeMethods.DataSync(_handle, _tempPath);
            _handle.Dispose();
            _handle = null;
            File.Move(_tempPath, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "publish snapshot", path); }
        NativeMethods.SyncDirectory(_directory);
        _completed = true;
        return new SnapshotMetadata(_index, _term, _configuration, _written, path);
    }

    public void Dispose()
    {
        _handle?.Dispose();
        _handle = null;
        if (!_completed)
        {
            try { File.Delete(_tempPath); } catch (Exception) { /* the store deletes leftovers when it opens */ }
        }
    }
}
