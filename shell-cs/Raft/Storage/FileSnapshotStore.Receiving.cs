using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Raft.Storage;

/// <summary>Snapshots received from a leader, resumable after a restart: the partial file
/// <c>{index:D20}-{term:D20}.snap.partial</c> and the <c>receiving</c> record (<see cref="ReceivingRecord"/>) that
/// vouches for a prefix of it. At most one snapshot is received at a time.</summary>
public sealed partial class FileSnapshotStore
{
    private const string PartialPattern = "*" + Extension + SnapshotWriter.PartialSuffix;

    private string RecordPath => Path.Combine(_directory, ReceivingRecord.FileName);

    public SnapshotWriter BeginReceive(long index, long term, ReadOnlySpan<byte> configuration, long transferId)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfNegative(term);
        // The previous transfer's record goes first, durably: it must never vouch for a file about to be replaced.
        DeleteReceiving();
        return new SnapshotWriter(_directory, FileName(index, term), index, term, configuration, receiving: true, transferId);
    }

    public SnapshotWriter? ResumeReceive(out string? discarded)
    {
        discarded = null;
        string path = RecordPath;
        byte[]? bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { bytes = null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "read", path); }
        if (bytes is null)
        {
            // Partial files without a record hold nothing durable (a transfer that had not checkpointed yet).
            if (DeletePartials(keep: null, below: long.MaxValue)) NativeMethods.SyncDirectory(_directory);
            return null;
        }
        var record = ReceivingRecord.TryDecode(bytes, out long at, out string why);
        if (record is null) return Discard(out discarded, $"the record '{path}' is damaged at byte offset {at}: {why}");
        var latest = Latest();
        if (latest is not null && latest.Index >= record.Index)
            return Discard(out discarded, $"the record '{path}' is for snapshot {record.Index}/{record.Term}, not newer than the stored snapshot {latest.Index}/{latest.Term}");

        string partial = Path.Combine(_directory, FileName(record.Index, record.Term) + SnapshotWriter.PartialSuffix);
        SafeFileHandle? h = null;
        try
        {
            try { h = File.OpenHandle(partial, FileMode.Open, FileAccess.ReadWrite, FileShare.None); }
            catch (FileNotFoundException) { return Discard(out discarded, $"'{partial}', which the record '{path}' says holds {record.Length} bytes, is missing"); }
            if (Verify(h, partial, record, out uint crc) is { } bad)
            {
                h.Dispose();
                return Discard(out discarded, bad);
            }
            // Bytes after the last checkpoint may be torn: cut them off so the next chunk continues after the durable ones
            // (and the completed file is exactly as long as its header says).
            long end = HeaderSize + record.Configuration.Length + record.Length;
            if (RandomAccess.GetLength(h) > end) RandomAccess.SetLength(h, end);
            if (DeletePartials(keep: partial, below: long.MaxValue)) NativeMethods.SyncDirectory(_directory);
            return new SnapshotWriter(_directory, FileName(record.Index, record.Term), h, record, crc);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            h?.Dispose();
            throw StorageErrors.Wrap(e, "resume the received snapshot", partial);
        }
    }

    /// <summary>Checks that the partial file holds the record's configuration and durable bytes; returns why not, or null
    /// with the running checksum of those bytes.</summary>
    private static string? Verify(SafeFileHandle h, string partial, ReceivingRecord record, out uint crc)
    {
        crc = Crc32C.Seed;
        long dataStart = HeaderSize + record.Configuration.Length, end = dataStart + record.Length, length = RandomAccess.GetLength(h);
        if (length < end) return $"'{partial}' is {length} bytes, shorter than the {end} the record says are durable (byte offset {length})";
        var config = new byte[record.Configuration.Length];
        if (RandomAccess.Read(h, config, HeaderSize) != config.Length || !config.AsSpan().SequenceEqual(record.Configuration))
            return $"'{partial}' holds a configuration different from its record's (byte offset {HeaderSize})";
        byte[] buffer = ArrayPool<byte>.Shared.Rent(256 << 10);
        try
        {
            for (long at = dataStart; at < end;)
            {
                int n = RandomAccess.Read(h, buffer.AsSpan(0, (int)Math.Min(buffer.Length, end - at)), at);
                if (n == 0) return $"'{partial}' ends early (byte offset {at})";
                crc = Crc32C.Append(crc, buffer.AsSpan(0, n));
                at += n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
        return Crc32C.Finish(crc) == record.DataCrc ? null
            : $"the {record.Length} durable data bytes of '{partial}' fail their checksum (byte offset {dataStart})";
    }

    private SnapshotWriter? Discard(out string? discarded, string reason)
    {
        DeleteReceiving();
        discarded = reason + "; discarded it, the transfer starts over from offset 0";
        return null;
    }

    /// <summary>Deletes the record and every partial file, then fsyncs the directory.</summary>
    private void DeleteReceiving()
    {
        string path = RecordPath;
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "delete", path); }
        DeletePartials(keep: null, below: long.MaxValue);
        NativeMethods.SyncDirectory(_directory);
    }

    /// <summary>Deletes the record when its snapshot is below <paramref name="index"/> (a damaged record is left for
    /// <see cref="ResumeReceive"/>), and partial files below it; true when it deleted anything.</summary>
    private bool DeleteReceivingOlderThan(long index)
    {
        string path = RecordPath;
        bool any = false;
        try
        {
            if (File.Exists(path) && ReceivingRecord.TryDecode(File.ReadAllBytes(path), out _, out _) is { } record && record.Index < index)
            {
                File.Delete(path);
                any = true;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "delete", path); }
        return DeletePartials(keep: null, below: index) || any;
    }

    /// <summary>Deletes partial files other than <paramref name="keep"/> whose index is below <paramref name="below"/>
    /// (a name that does not parse counts as below); true when it deleted any.</summary>
    private bool DeletePartials(string? keep, long below)
    {
        bool any = false;
        string[] files;
        try { files = System.IO.Directory.GetFiles(_directory, PartialPattern); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "list", _directory); }
        foreach (var f in files)
        {
            if (f == keep) continue;
            var name = Path.GetFileName(f.AsSpan());
            if (long.TryParse(name[..Math.Min(20, name.Length)], System.Globalization.NumberStyles.None, null, out long index) && index >= below) continue;
            try { File.Delete(f); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "delete", f); }
            any = true;
        }
        return any;
    }
}
