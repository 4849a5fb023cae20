using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Raft.Storage;

/// <summary>Writes one snapshot: data arrives in order (chunks may be re-sent; bytes already written are skipped) and
/// <see cref="Complete"/> publishes it atomically. Disposing without completing deletes the partial file.
/// A writer from <see cref="ISnapshotStore.BeginReceive"/> or <see cref="ISnapshotStore.ResumeReceive"/> (a snapshot
/// received from a leader) can also make its progress durable with <see cref="Checkpoint"/> and be closed with
/// <see cref="Close"/> so that the transfer resumes after a restart.</summary>
public sealed class SnapshotWriter : IDisposable
{
    /// <summary>Suffix of the partial file of a received snapshot (kept across restarts, unlike <c>.tmp</c>).</summary>
    internal const string PartialSuffix = ".partial";

    private readonly string _directory, _fileName, _tempPath;
    private readonly bool _receiving;
    private readonly long _index, _term;
    private readonly byte[] _configuration;
    private SafeFileHandle? _handle;
    private long _written, _durable = -1, _transferId;
    private uint _crc = Crc32C.Seed;
    private bool _completed, _kept;

    /// <summary>A new partial file; <paramref name="receiving"/> names it <c>.partial</c> and lets
    /// <see cref="Checkpoint"/> record its progress.</summary>
    internal SnapshotWriter(string directory, string fileName, long index, long term, ReadOnlySpan<byte> configuration, bool receiving, long transferId)
    {
        (_directory, _fileName, _index, _term, _receiving, _transferId) = (directory, fileName, index, term, receiving, transferId);
        _tempPath = Path.Combine(directory, fileName + (receiving ? PartialSuffix : AtomicFile.TempSuffix));
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

    /// <summary>An existing partial file (already verified against <paramref name="record"/> and truncated to its
    /// durable length) that continues after its durable bytes.</summary>
    internal SnapshotWriter(string directory, string fileName, SafeFileHandle handle, ReceivingRecord record, uint crcState)
    {
        (_directory, _fileName, _index, _term, _receiving) = (directory, fileName, record.Index, record.Term, true);
        _tempPath = Path.Combine(directory, fileName + PartialSuffix);
        _configuration = record.Configuration;
        _handle = handle;
        (_written, _durable, _transferId, _crc) = (record.Length, record.Length, record.TransferId, crcState);
    }

    /// <summary>The snapshot's last included index.</summary>
    public long Index => _index;

    /// <summary>The term of that index.</summary>
    public long Term => _term;

    /// <summary>The configuration bytes given when the write began (stored in the snapshot's header).</summary>
    public ReadOnlyMemory<byte> Configuration => _configuration;

    /// <summary>The transfer id of the last <see cref="Checkpoint"/> (or given to <see cref="ISnapshotStore.BeginReceive"/>).</summary>
    public long TransferId => _transferId;

    /// <summary>Data bytes received so far (the next expected offset).</summary>
    public long BytesWritten => _written;

    /// <summary>Data bytes the last <see cref="Checkpoint"/> made durable (0 before the first).</summary>
    public long DurableBytes => Math.Max(0, _durable);

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

    /// <summary>Makes the data written so far durable and records it, with <paramref name="transferId"/>, so that
    /// <see cref="ISnapshotStore.ResumeReceive"/> continues from here after a restart: the partial file is fdatasynced,
    /// then the <c>receiving</c> record is replaced atomically (temp file, fdatasync, rename, directory fsync). A crash
    /// anywhere in between leaves the previous record, whose bytes were synced before it was written. Does nothing
    /// when nothing changed since the last checkpoint, or for a writer from <see cref="ISnapshotStore.BeginWrite"/>
    /// (its data is durable only once complete).</summary>
    public void Checkpoint(long transferId)
    {
        ObjectDisposedException.ThrowIf(_handle is null || _completed, this);
        if (!_receiving || (_durable == _written && _transferId == transferId)) return;
        NativeMethods.DataSync(_handle, _tempPath);
        var record = new ReceivingRecord(_index, _term, transferId, _written, Crc32C.Finish(_crc), _configuration);
        AtomicFile.Write(_directory, ReceivingRecord.FileName, record.Encode());
        (_durable, _transferId) = (_written, transferId);
    }

    /// <summary>Writes the header, fdatasyncs, renames into place and fsyncs the directory (a received snapshot's
    /// record is deleted in the same directory fsync: a crash before it leaves a record the store finds stale).</summary>
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
            if (_receiving) File.Delete(Path.Combine(_directory, ReceivingRecord.FileName));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "publish snapshot", path); }
        NativeMethods.SyncDirectory(_directory);
        _completed = true;
        return new SnapshotMetadata(_index, _term, _configuration, _written, path);
    }

    /// <summary>Releases the file without abandoning the write: a received snapshot's partial file and record stay
    /// for <see cref="ISnapshotStore.ResumeReceive"/> (what the last <see cref="Checkpoint"/> made durable is what a
    /// restart finds). Any other writer is disposed (its partial file deleted).</summary>
    public void Close()
    {
        if (!_receiving)
        {
            Dispose();
            return;
        }
        _kept = true;
        _handle?.Dispose();
        _handle = null;
    }

    /// <summary>Abandons an incomplete write: deletes the partial file (and a received snapshot's record).</summary>
    public void Dispose()
    {
        _handle?.Dispose();
        _handle = null;
        if (_completed || _kept) return;
        _kept = true; // once
        try
        {
            // The record first, so that a crash in between leaves no record naming a missing file (resuming checks anyway).
            if (_receiving) File.Delete(Path.Combine(_directory, ReceivingRecord.FileName));
            File.Delete(_tempPath);
        }
        catch (Exception) { /* the store discards leftovers when it opens or resumes */ }
    }
}
