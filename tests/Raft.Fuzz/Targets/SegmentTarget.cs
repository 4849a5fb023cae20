using System.Buffers.Binary;
using Raft.Storage;

namespace Raft.Fuzz.Targets;

/// <summary>FileLogStorage recovery: chunks written as segment files (tag 0, named by the first index in their header),
/// index files (tag 1, of the segment before them) and <c>log.meta</c> (tag 2) in an empty directory, then the log
/// opened, read whole, appended to and reopened. Every entry read must carry the term the recovered log reports for
/// its index, and the reopened log must hold what was written.</summary>
internal static class SegmentTarget
{
    private static readonly FileLogOptions Options = new()
    {
        SegmentSize = 4096, IndexInterval = 256, WriteBufferSize = FileLogOptions.MinWriteBufferSize, PreallocateSize = 0,
        MaxRecordSize = 64 << 10,
    };

    private const byte TruncateTail = 2;

    public static readonly FuzzTarget Target = new(
        "segment", "FileLogStorage.Open (segment, index and log.meta recovery) + ReadRange + Append + reopen",
        Run, [typeof(StorageCorruptedException)], 32L << 20, Seeds);

    private static void Run(byte[] input)
    {
        var (flags, files) = Chunks.Read(input);
        using var dir = new ScratchDirectory();
        long segment = 1;
        foreach (var (tag, bytes) in files)
        {
            bool fix = (flags & Chunks.FixChecksums) != 0;
            switch (tag % 3)
            {
                case 0:
                    segment = bytes.Length >= 16 && BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8)) is > 0 and < 1_000_000_000_000 and var f ? f : 1;
                    if (fix) SegmentBytes.FixSegment(bytes);
                    File.WriteAllBytes(dir.File(SegmentFormat.SegmentName(segment)), bytes);
                    break;
                case 1:
                    if (fix) SegmentBytes.FixIndex(bytes);
                    File.WriteAllBytes(dir.File(SegmentFormat.IndexName(segment)), bytes);
                    break;
                default:
                    if (fix) SegmentBytes.FixCrc(bytes, SegmentFormat.MetaSize);
                    File.WriteAllBytes(dir.File(SegmentFormat.MetaFileName), bytes);
                    break;
            }
        }
        var options = (flags & TruncateTail) != 0 ? new FileLogOptions { SegmentSize = Options.SegmentSize, IndexInterval = Options.IndexInterval,
            WriteBufferSize = Options.WriteBufferSize, PreallocateSize = 0, MaxRecordSize = Options.MaxRecordSize, TruncateCorruptTail = true } : Options;
        long last;
        using (var log = FileLogStorage.Open(dir.Path, options))
        {
            LogChecks.ReadWhole(log, "the log");
            last = log.LastIndex;
            long term = log.LastIndex >= log.FirstIndex - 1 ? log.TermAt(log.LastIndex) : 0;
            log.Append([new LogRecord(last + 1, term + 1, new byte[] { 1, 2, 3 })]);
            log.Flush();
        }
        using (var log = FileLogStorage.Open(dir.Path, options))
        {
            if (log.LastIndex != last + 1) throw new FuzzViolation($"reopened log ends at {log.LastIndex}, {last + 1} was written");
            LogChecks.ReadWhole(log, "the log");
        }
    }

    private static IEnumerable<(string, byte[])> Seeds()
    {
        using var dir = new ScratchDirectory();
        using (var log = FileLogStorage.Open(dir.Path, Options))
        {
            for (long i = 1; i <= 60; i++) log.Append([new LogRecord(i, 1 + i / 20, new byte[(int)(i % 7) * 20])]);
            log.Flush();
        }
        yield return ("three-terms", Pack(dir.Path, 0));
        yield return ("three-terms-fixup", Pack(dir.Path, Chunks.FixChecksums));
        using (var log = FileLogStorage.Open(dir.Path, Options))
        {
            log.CompactPrefix(25, log.TermAt(25));
            log.TruncateSuffix(50);
            log.Flush();
        }
        yield return ("compacted-truncated", Pack(dir.Path, 0));
        using var small = new ScratchDirectory();
        using (var log = FileLogStorage.Open(small.Path, Options))
        {
            log.Append([new LogRecord(1, 1, new byte[] { 9 }), new LogRecord(2, 3, new byte[] { 8, 8 })]);
            log.Flush();
        }
        yield return ("two-records", Pack(small.Path, 0));
        yield return ("two-records-truncate-tail", Pack(small.Path, TruncateTail));
    }

    /// <summary>The log's files as chunks, each index file right after its segment.</summary>
    private static byte[] Pack(string directory, byte flags)
    {
        var chunks = new List<(byte, byte[])>();
        foreach (var seg in Directory.GetFiles(directory, "*" + SegmentFormat.SegmentExtension).Order())
        {
            chunks.Add((0, File.ReadAllBytes(seg)));
            var idx = Path.ChangeExtension(seg, SegmentFormat.IndexExtension);
            if (File.Exists(idx)) chunks.Add((1, File.ReadAllBytes(idx)));
        }
        var meta = Path.Combine(directory, SegmentFormat.MetaFileName);
        if (File.Exists(meta)) chunks.Add((2, File.ReadAllBytes(meta)));
        return Chunks.Write(flags, chunks);
    }
}

/// <summary>Checksum repair for the log's file formats (<see cref="SegmentFormat"/>).</summary>
internal static class SegmentBytes
{
    /// <summary>The CRC-32C at bytes 28..32 of a <paramref name="size"/>-byte block over its first 28.</summary>
    public static void FixCrc(Span<byte> block, int size)
    {
        if (block.Length < size) return;
        BinaryPrimitives.WriteUInt32LittleEndian(block[28..], Crc32C.Compute(block[..28]));
    }

    public static void FixSegment(byte[] bytes)
    {
        FixCrc(bytes, SegmentFormat.FileHeaderSize);
        for (int at = SegmentFormat.FileHeaderSize; at + SegmentFormat.RecordHeaderSize <= bytes.Length;)
        {
            var record = bytes.AsSpan(at);
            int length = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(record[4..]), record.Length - SegmentFormat.RecordHeaderSize);
            BinaryPrimitives.WriteUInt32LittleEndian(record[24..], Crc32C.Compute(record.Slice(SegmentFormat.RecordHeaderSize, length)));
            BinaryPrimitives.WriteUInt32LittleEndian(record, Crc32C.Compute(record.Slice(4, SegmentFormat.RecordHeaderSize - 4)));
            at += SegmentFormat.RecordHeaderSize + length;
        }
    }

    public static void FixIndex(byte[] bytes)
    {
        FixCrc(bytes, SegmentFormat.FileHeaderSize);
        for (int at = SegmentFormat.FileHeaderSize; at + SegmentFormat.IndexEntrySize <= bytes.Length; at += SegmentFormat.IndexEntrySize)
            FixCrc(bytes.AsSpan(at), SegmentFormat.IndexEntrySize);
    }
}
