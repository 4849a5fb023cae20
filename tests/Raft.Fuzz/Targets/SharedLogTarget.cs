using System.Buffers.Binary;
using Raft.Storage;

namespace Raft.Fuzz.Targets;

/// <summary>The shared log's recovery: chunks written as files <c>{sequence}.rlog</c> (the sequence is the tag mod 4,
/// plus 1) in an empty directory, the log opened and every group read whole, then one entry appended and the log
/// reopened. Entries read must carry the terms the recovered index reports, and the reopened log must hold the
/// appended entry.</summary>
internal static class SharedLogTarget
{
    private static readonly SharedLogOptions Options = new() { FileSize = 4096, ZeroAheadBytes = 0 };

    public static readonly FuzzTarget Target = new(
        "sharedlog", "SharedLog.Open (batch replay, checkpoints) + every group's ReadRange + Append + reopen",
        Run, [typeof(StorageCorruptedException)], 32L << 20, Seeds);

    private static void Run(byte[] input)
    {
        var (flags, files) = Chunks.Read(input);
        using var dir = new ScratchDirectory();
        foreach (var (tag, bytes) in files)
        {
            long sequence = tag % 4 + 1;
            if ((flags & Chunks.FixChecksums) != 0) FixFile(bytes, sequence);
            File.WriteAllBytes(dir.File(SharedLogFormat.FileName(sequence)), bytes);
        }
        long group, last;
        using (var log = SharedLog.Open(dir.Path, Options))
        {
            foreach (var id in log.GroupIds) LogChecks.ReadWhole(log.Group(id), $"group {id}");
            group = log.GroupIds.Count > 0 ? log.GroupIds[0] : 1;
            var g = log.Group(group);
            last = g.LastIndex;
            g.Append([new LogRecord(last + 1, g.TermAt(last) + 1, new byte[] { 4, 5 })]);
            log.HardState(group).Save([1, 2, 3]);
        }
        using (var log = SharedLog.Open(dir.Path, Options))
        {
            var g = log.Group(group);
            if (g.LastIndex != last + 1) throw new FuzzViolation($"reopened group {group} ends at {g.LastIndex}, {last + 1} was written");
            if (log.HardState(group).Load() is not [1, 2, 3]) throw new FuzzViolation($"reopened group {group} lost its hard state");
            foreach (var id in log.GroupIds) LogChecks.ReadWhole(log.Group(id), $"group {id}");
        }
    }

    /// <summary>Repairs the header checksum and every batch's checksum (over the body length it declares, as far as the
    /// file holds it), walking batches as recovery does.</summary>
    private static void FixFile(byte[] bytes, long sequence)
    {
        if (bytes.Length < SharedLogFormat.HeaderSize) return;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(28), Crc32C.Compute(bytes.AsSpan(0, 28)));
        for (long at = SharedLogFormat.HeaderSize; at + SharedLogFormat.BatchHeaderSize <= bytes.Length;)
        {
            var batch = bytes.AsSpan((int)at);
            if (BinaryPrimitives.ReadUInt32LittleEndian(batch) != SharedLogFormat.BatchMarker) return;
            int length = (int)Math.Clamp(BinaryPrimitives.ReadInt32LittleEndian(batch[4..]), 0, batch.Length - SharedLogFormat.BatchHeaderSize);
            BinaryPrimitives.WriteUInt32LittleEndian(batch[16..], SharedLogFormat.BatchCrc(sequence, BinaryPrimitives.ReadInt64LittleEndian(batch[8..]),
                batch.Slice(SharedLogFormat.BatchHeaderSize, length)));
            at += SharedLogFormat.Align8(SharedLogFormat.BatchHeaderSize + length);
        }
    }

    private static IEnumerable<(string, byte[])> Seeds()
    {
        using var dir = new ScratchDirectory();
        using (var log = SharedLog.Open(dir.Path, Options))
        {
            var a = log.Group(1);
            var b = log.Group(2);
            for (long i = 1; i <= 12; i++)
            {
                a.Append([new LogRecord(i, 1 + i / 5, new byte[i % 5 * 9])]);
                if (i % 3 == 0) b.Append([new LogRecord(i / 3, 2, new byte[] { (byte)i })]);
                log.HardState(1).Stage([(byte)i]);
                log.Commit();
            }
            a.TruncateSuffix(11);
            a.CompactPrefix(4, a.TermAt(4));
            log.Commit();
        }
        yield return ("two-groups", Pack(dir.Path, 0));
        yield return ("two-groups-fixup", Pack(dir.Path, Chunks.FixChecksums));
        using (var log = SharedLog.Open(dir.Path, Options)) log.RemoveGroup(2);
        yield return ("reopened-removed", Pack(dir.Path, 0));
    }

    private static byte[] Pack(string directory, byte flags)
    {
        var chunks = new List<(byte, byte[])>();
        foreach (var f in Directory.GetFiles(directory, "*" + SharedLogFormat.Extension).Order())
            if (SharedLogFormat.TryParseFileName(Path.GetFileName(f), out long s) && s <= 4)
                chunks.Add(((byte)(s - 1), File.ReadAllBytes(f)));
        return Chunks.Write(flags, chunks);
    }
}
