using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Raft.Storage;

public sealed partial class SharedLog
{
    /// <summary>During recovery: how many entries the files being replayed can locate at most (see <see cref="Recover"/>).</summary>
    private long _locatable;

    private SharedLog(string directory, SharedLogOptions options)
    {
        _directory = Path.GetFullPath(directory);
        _options = options;
    }

    /// <summary>Opens the shared log in <paramref name="directory"/> (created if missing): takes its lock, replays its
    /// files, cuts a torn final batch, and starts a new file with a checkpoint (a file is never appended to after a
    /// restart).</summary>
    /// <exception cref="StorageCorruptedException">A batch fails its checks anywhere but at the tail of the last file,
    /// or the files disagree; the message names the file and byte offset.</exception>
    /// <exception cref="StorageException">The directory cannot be used, or another process holds the log.</exception>
    public static SharedLog Open(string directory, SharedLogOptions? options = null)
    {
        options ??= new SharedLogOptions();
        options.Validate();
        var log = new SharedLog(directory, options);
        try
        {
            log.Recover();
            return log;
        }
        catch
        {
            log.Dispose();
            throw;
        }
    }

    private void Recover()
    {
        try { System.IO.Directory.CreateDirectory(_directory); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "create the log directory", _directory); }
        var lockPath = Path.Combine(_directory, SharedLogFormat.LockFileName);
        try { _lockFile = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None); }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new StorageException($"The shared log in '{_directory}' is already open in another process (its lock file is held, or cannot be " +
                                       "opened). Stop the other process; two writers would corrupt the log.", _directory, e);
        }
        catch (UnauthorizedAccessException e) { throw StorageErrors.Wrap(e, "open the lock file", lockPath); }

        var sequences = new List<long>();
        foreach (var f in System.IO.Directory.GetFiles(_directory))
            if (SharedLogFormat.TryParseFileName(Path.GetFileName(f), out long s)) sequences.Add(s);
        sequences.Sort();
        // A gap is left by a deletion that the crash interrupted: files before it are garbage (the first file after it
        // starts with a checkpoint of everything they held that was still live).
        int start = 0;
        for (int i = 1; i < sequences.Count; i++)
            if (sequences[i] != sequences[i - 1] + 1) start = i;
        for (int i = 0; i < start; i++) File.Delete(FilePath(sequences[i]));

        // Every entry a checkpoint lists must be located by a 12-byte table row of an Entries or Relocate item in these
        // files (checked once replay ends): that bounds what a checkpoint may claim before its entries are allocated.
        _locatable = 0;
        for (int i = start; i < sequences.Count; i++) _locatable += new FileInfo(FilePath(sequences[i])).Length / SharedLogItems.EntryTableRow;
        long expectedBatch = -1;
        long last = 0;
        for (int i = start; i < sequences.Count; i++)
        {
            bool isLast = i == sequences.Count - 1;
            if (ReplayFile(sequences[i], isLast, ref expectedBatch)) last = sequences[i];
        }
        foreach (var g in _groups.Values)
            if (g.FirstUnlocated() is var missing and >= 0)
                throw new StorageCorruptedException(FilePath(last), 0, $"entry {missing} of group {g.Id} is in no live file",
                    StorageCorruptedException.LogAdvice);
        if (_storeId == 0) _storeId = Math.Max(1, BinaryPrimitives.ReadInt64LittleEndian(RandomNumberGenerator.GetBytes(8)) & long.MaxValue);
        if (expectedBatch > 0) _nextBatch = expectedBatch;
        foreach (var s in sequences.Skip(start).Where(s => s <= last))
            _files[s] = File.OpenHandle(FilePath(s), FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        StartFile(last + 1);
        CollectGarbage();
    }

    /// <summary>Replays one file into the index; returns false when it held nothing (a last file whose header or first
    /// batch was torn, which is then deleted).</summary>
    private bool ReplayFile(long sequence, bool isLast, ref long expectedBatch)
    {
        var path = FilePath(sequence);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "read", path); }
        string? bad = SharedLogFormat.ReadHeader(bytes, out long headerSequence, out long storeId);
        if (bad is null && headerSequence != sequence) bad = $"the header says file {headerSequence}";
        if (bad is null && _storeId != 0 && storeId != _storeId) bad = $"the file belongs to another log (store {storeId:x}, this log is {_storeId:x})";
        if (bad is not null)
        {
            // The header of a new file is made durable with its checkpoint, before anything else is written to it.
            if (isLast) return DeleteEmpty(path);
            throw Corrupt(path, 0, bad);
        }
        _storeId = storeId;
        long pos = SharedLogFormat.HeaderSize;
        bool first = true;
        while (true)
        {
            string? problem = NextBatch(bytes, sequence, pos, expectedBatch, out int bodyLength, out long batchSequence);
            if (problem is not null)
            {
                if (problem.Length == 0) break; // zeros: the end of the file's batches
                if (FindBatchAfter(bytes, sequence, pos, expectedBatch) is long later)
                    throw Corrupt(path, pos, $"{problem}, and a valid batch follows at byte offset {later}");
                if (!isLast) throw Corrupt(path, pos, problem);
                Truncate(path, pos); // a torn final batch: the round it held was never acknowledged
                break;
            }
            var body = bytes.AsSpan((int)pos + SharedLogFormat.BatchHeaderSize, bodyLength);
            if (first && (body.Length < SharedLogFormat.ItemHeaderSize || body[8] != (byte)SharedItem.Checkpoint))
                throw Corrupt(path, pos, "the file's first batch is not a checkpoint");
            if (ApplyBatch(body, sequence, pos + SharedLogFormat.BatchHeaderSize, batchSequence) is { } wrong) throw Corrupt(path, pos, wrong);
            pos += SharedLogFormat.Align8(SharedLogFormat.BatchHeaderSize + bodyLength);
            expectedBatch = batchSequence + 1;
            first = false;
        }
        if (first)
        {
            if (isLast) return DeleteEmpty(path);
            throw Corrupt(path, SharedLogFormat.HeaderSize, "the file holds no checkpoint");
        }
        _dataEnd[sequence] = pos;
        return true;
    }

    /// <summary>Checks the batch at <paramref name="pos"/>: null when valid, "" at the zeros after the last batch,
    /// otherwise what is wrong.</summary>
    private static string? NextBatch(byte[] bytes, long file, long pos, long expectedBatch, out int bodyLength, out long batchSequence)
    {
        bodyLength = 0;
        batchSequence = 0;
        // A crash may cut the zero padding after a complete batch: the file then ends inside the padding.
        if (pos >= bytes.Length) return "";
        if (pos + SharedLogFormat.BatchHeaderSize > bytes.Length)
            return bytes.AsSpan((int)pos).ContainsAnyExcept((byte)0) ? "a batch header is cut off by the end of the file" : "";
        var header = bytes.AsSpan((int)pos, SharedLogFormat.BatchHeaderSize);
        uint marker = BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (marker == 0 && !bytes.AsSpan((int)pos).ContainsAnyExcept((byte)0)) return "";
        if (marker != SharedLogFormat.BatchMarker) return "no batch starts where one should";
        bodyLength = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        batchSequence = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
        if (bodyLength < 0 || pos + SharedLogFormat.BatchHeaderSize + bodyLength > bytes.Length) return $"a batch of {bodyLength} bytes runs past the end of the file";
        if (expectedBatch > 0 && batchSequence != expectedBatch) return $"batch {batchSequence} where batch {expectedBatch} should be";
        var body = bytes.AsSpan((int)pos + SharedLogFormat.BatchHeaderSize, bodyLength);
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[16..]) != SharedLogFormat.BatchCrc(file, batchSequence, body)) return $"batch {batchSequence} fails its checksum";
        return null;
    }

    /// <summary>The offset of a valid batch after <paramref name="pos"/> (batches are 8-byte aligned), if any: a torn
    /// tail has none, so one found means the damage is not a torn tail.</summary>
    private static long? FindBatchAfter(byte[] bytes, long file, long pos, long expectedBatch)
    {
        for (long at = pos + 8; at + SharedLogFormat.BatchHeaderSize <= bytes.Length; at += 8)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)at)) != SharedLogFormat.BatchMarker) continue;
            if (NextBatch(bytes, file, at, -1, out _, out long s) is null && (expectedBatch < 0 || s >= expectedBatch)) return at;
        }
        return null;
    }

    private string? ApplyBatch(ReadOnlySpan<byte> body, long file, long bodyOffset, long batchSequence)
    {
        int at = 0;
        while (at < body.Length)
        {
            if (at + SharedLogFormat.ItemHeaderSize > body.Length) return $"an item header at body offset {at} is cut off";
            long groupId = BinaryPrimitives.ReadInt64LittleEndian(body[at..]);
            var type = (SharedItem)body[at + 8];
            int length = BinaryPrimitives.ReadInt32LittleEndian(body[(at + 9)..]);
            int payloadStart = at + SharedLogFormat.ItemHeaderSize;
            // Subtracted, not added: a length near int.MaxValue would overflow the sum and pass.
            if (length < 0 || length > body.Length - payloadStart) return $"an item at body offset {at} overruns its batch";
            if (SharedLogItems.Apply(_groups, groupId, type, body.Slice(payloadStart, length), file, bodyOffset + payloadStart, batchSequence, _locatable) is { } bad)
                return bad;
            at = payloadStart + length;
        }
        return null;
    }

    private static void Truncate(string path, long length)
    {
        using var h = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        RandomAccess.SetLength(h, length);
        NativeMethods.DataSync(h, path);
    }

    private bool DeleteEmpty(string path)
    {
        File.Delete(path);
        NativeMethods.SyncDirectory(_directory);
        return false;
    }

    private static StorageCorruptedException Corrupt(string path, long offset, string reason) =>
        new(path, offset, reason, StorageCorruptedException.LogAdvice);
}
