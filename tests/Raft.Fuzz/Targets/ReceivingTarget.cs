using System.Buffers.Binary;
using Raft.Storage;

namespace Raft.Fuzz.Targets;

/// <summary>The snapshot receiving record: chunk 0 as the <c>receiving</c> file, chunk 1 as the partial snapshot file it
/// names (its index and term read from the record), resumed by <see cref="FileSnapshotStore.ResumeReceive"/>. A damaged
/// record must be discarded with a reason, never thrown; a resumed transfer continues at the record's length.</summary>
internal static class ReceivingTarget
{
    private const int RecordHeader = 52;

    public static readonly FuzzTarget Target = new(
        "receiving", "FileSnapshotStore.ResumeReceive over a receiving record and its partial file",
        Run, [typeof(StorageCorruptedException)], 4L << 20, Seeds);

    private static void Run(byte[] input)
    {
        var (flags, files) = Chunks.Read(input);
        if (files.Count == 0) return;
        var record = files[0].Bytes;
        var partial = files.Count > 1 ? files[1].Bytes : [];
        if ((flags & Chunks.FixChecksums) != 0 && record.Length >= RecordHeader) FixRecord(record, partial);
        using var dir = new ScratchDirectory();
        File.WriteAllBytes(dir.File(ReceivingRecord.FileName), record);
        if (record.Length >= 24)
        {
            long index = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(8)), term = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(16));
            if (index >= 0 && term >= 0) File.WriteAllBytes(dir.File(FileSnapshotStore.FileName(index, term) + SnapshotWriter.PartialSuffix), partial);
        }
        var store = new FileSnapshotStore(dir.Path);
        using var writer = store.ResumeReceive(out var discarded);
        if (writer is null)
        {
            if (discarded is null) throw new FuzzViolation("a receiving record was neither resumed nor discarded with a reason");
            if (File.Exists(dir.File(ReceivingRecord.FileName))) throw new FuzzViolation("a discarded receiving record is still on disk");
            return;
        }
        long length = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(32));
        if (writer.BytesWritten != length || writer.DurableBytes != length)
            throw new FuzzViolation($"a transfer resumed at {writer.BytesWritten} (durable {writer.DurableBytes}), the record says {length}");
        writer.WriteChunk(writer.BytesWritten, [1, 2, 3]);
        writer.Checkpoint(writer.TransferId + 1);
        writer.Close();
        using var again = store.ResumeReceive(out var lost);
        if (again?.DurableBytes != length + 3) throw new FuzzViolation($"a checkpoint at {length + 3} resumed at {again?.DurableBytes} ({lost})");
    }

    /// <summary>Makes the record's configuration length, data checksum (over what the partial file holds) and record
    /// checksum agree with the bytes.</summary>
    private static void FixRecord(byte[] record, byte[] partial)
    {
        int configLength = record.Length - RecordHeader;
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(44), (uint)configLength);
        long dataStart = FileSnapshotStore.HeaderSize + (long)configLength, length = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(32));
        if (length >= 0 && dataStart <= partial.Length)
        {
            int n = (int)Math.Min(length, partial.Length - dataStart);
            BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(40), Crc32C.Compute(partial.AsSpan((int)dataStart, n)));
        }
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(48),
            Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, record.AsSpan(0, 48)), record.AsSpan(RecordHeader))));
    }

    private static IEnumerable<(string, byte[])> Seeds()
    {
        using var dir = new ScratchDirectory();
        var store = new FileSnapshotStore(dir.Path);
        var writer = store.BeginReceive(9, 5, [7, 7, 7, 7], transferId: 3);
        writer.Write([1, 2, 3, 4, 5, 6, 7, 8]);
        writer.Checkpoint(3);
        writer.Close();
        {
            var record = File.ReadAllBytes(dir.File(ReceivingRecord.FileName));
            var partial = File.ReadAllBytes(dir.File(FileSnapshotStore.FileName(9, 5) + SnapshotWriter.PartialSuffix));
            yield return ("checkpointed", Chunks.Write(0, [(0, record), (1, partial)]));
            yield return ("checkpointed-fixup", Chunks.Write(Chunks.FixChecksums, [(0, record), (1, partial)]));
            yield return ("partial-missing", Chunks.Write(0, [(0, record)]));
            yield return ("partial-torn-tail", Chunks.Write(0, [(0, record), (1, [.. partial, 0xEE, 0xEE])]));
        }
    }
}
