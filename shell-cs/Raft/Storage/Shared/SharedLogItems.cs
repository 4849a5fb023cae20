using System.Buffers.Binary;

namespace Raft.Storage;

/// <summary>Applies one item of the shared log to the groups' index: the single meaning of every item, used by the
/// live path right after it stages an item and by recovery when it replays one.</summary>
internal static class SharedLogItems
{
    /// <summary>Bytes an entry takes in the table of an Entries or Relocate item (term i64, length i32).</summary>
    public const int EntryTableRow = 12;

    /// <summary>Applies an item whose payload starts at <paramref name="payloadOffset"/> of file <paramref name="file"/>;
    /// returns why it cannot be applied (the log is then corrupt), or null. A checkpoint may list at most
    /// <paramref name="maxEntries"/> entries over all its groups (what the files replayed can locate).</summary>
    public static string? Apply(Dictionary<long, SharedGroupState> groups, long groupId, SharedItem type, ReadOnlySpan<byte> payload,
        long file, long payloadOffset, long batchSequence, long maxEntries)
    {
        if (type == SharedItem.Checkpoint) return ApplyCheckpoint(groups, payload, maxEntries);
        if (type == SharedItem.Open)
        {
            if (payload.Length != 8) return $"an Open item of group {groupId} is {payload.Length} bytes";
            groups[groupId] = new SharedGroupState(groupId, BinaryPrimitives.ReadInt64LittleEndian(payload));
            return null;
        }
        if (!groups.TryGetValue(groupId, out var g)) return $"a {type} item for group {groupId}, which is not open";
        switch (type)
        {
            case SharedItem.Entries:
                return DecodeEntries(payload, file, payloadOffset, out long first, out var entries) ?? g.ApplyEntries(first, entries);
            case SharedItem.Relocate:
                return DecodeEntries(payload, file, payloadOffset, out long from, out var moved) ?? g.ApplyRelocate(from, moved);
            case SharedItem.Truncate:
                return payload.Length != 8 ? $"a Truncate item of group {groupId} is {payload.Length} bytes" : g.ApplyTruncate(BinaryPrimitives.ReadInt64LittleEndian(payload));
            case SharedItem.HardState:
                g.HardState = payload.ToArray();
                return null;
            case SharedItem.CompactTo:
            case SharedItem.Reset:
                if (payload.Length != 16) return $"a {type} item of group {groupId} is {payload.Length} bytes";
                long index = BinaryPrimitives.ReadInt64LittleEndian(payload), term = BinaryPrimitives.ReadInt64LittleEndian(payload[8..]);
                if (type == SharedItem.CompactTo) return g.ApplyCompactTo(index, term);
                g.ApplyReset(index, term);
                return null;
            case SharedItem.Remove:
                groups.Remove(groupId);
                return null;
            default:
                return $"an item of unknown type {(byte)type} for group {groupId}";
        }
    }

    /// <summary>Size of an Entries payload holding <paramref name="count"/> entries of <paramref name="payloadBytes"/> in all.</summary>
    public static int EntriesSize(int count, long payloadBytes) => checked(12 + 12 * count + (int)payloadBytes);

    /// <summary>Writes an Entries payload and the entries' locations (payloads at <paramref name="payloadOffset"/> in
    /// <paramref name="file"/>).</summary>
    public static EntryRef[] EncodeEntries(Span<byte> into, ReadOnlySpan<LogRecord> records, long file, long payloadOffset)
    {
        BinaryPrimitives.WriteInt64LittleEndian(into, records[0].Index);
        BinaryPrimitives.WriteInt32LittleEndian(into[8..], records.Length);
        var refs = new EntryRef[records.Length];
        int table = 12, data = 12 + 12 * records.Length;
        for (int i = 0; i < records.Length; i++)
        {
            var payload = records[i].Payload.Span;
            BinaryPrimitives.WriteInt64LittleEndian(into[table..], records[i].Term);
            BinaryPrimitives.WriteInt32LittleEndian(into[(table + 8)..], payload.Length);
            payload.CopyTo(into[data..]);
            refs[i] = new EntryRef(records[i].Term, file, payloadOffset + data, payload.Length);
            table += 12;
            data += payload.Length;
        }
        return refs;
    }

    private static string? DecodeEntries(ReadOnlySpan<byte> payload, long file, long payloadOffset, out long first, out EntryRef[] entries)
    {
        entries = [];
        first = 0;
        if (payload.Length < 12) return $"an Entries item is {payload.Length} bytes";
        first = BinaryPrimitives.ReadInt64LittleEndian(payload);
        int count = BinaryPrimitives.ReadInt32LittleEndian(payload[8..]);
        if (count < 1 || 12L + 12L * count > payload.Length) return $"an Entries item claims {count} entries in {payload.Length} bytes";
        entries = new EntryRef[count];
        long data = 12 + 12L * count;
        for (int i = 0; i < count; i++)
        {
            long term = BinaryPrimitives.ReadInt64LittleEndian(payload[(12 + 12 * i)..]);
            int length = BinaryPrimitives.ReadInt32LittleEndian(payload[(20 + 12 * i)..]);
            if (length < 0 || data + length > payload.Length) return $"entry {first + i} of an Entries item overruns it";
            entries[i] = new EntryRef(term, file, payloadOffset + data, length);
            data += length;
        }
        return data == payload.Length ? null : $"an Entries item has {payload.Length - data} bytes after its entries";
    }

    /// <summary>Size of a checkpoint of <paramref name="groups"/>.</summary>
    public static int CheckpointSize(IEnumerable<SharedGroupState> groups, out List<(SharedGroupState Group, List<(long Start, long Term)> Runs)> listed)
    {
        listed = [];
        long size = 4;
        foreach (var g in groups)
        {
            var runs = g.Runs();
            listed.Add((g, runs));
            size += 44 + 16L * runs.Count + 4 + (g.HardState?.Length ?? 0);
        }
        return checked((int)size);
    }

    /// <summary>Writes a checkpoint: count, then per group id, incarnation, first index, term before it, last index,
    /// term runs, hard state (length -1 when none).</summary>
    public static void EncodeCheckpoint(Span<byte> into, List<(SharedGroupState Group, List<(long Start, long Term)> Runs)> listed)
    {
        BinaryPrimitives.WriteInt32LittleEndian(into, listed.Count);
        int at = 4;
        foreach (var (g, runs) in listed)
        {
            BinaryPrimitives.WriteInt64LittleEndian(into[at..], g.Id);
            BinaryPrimitives.WriteInt64LittleEndian(into[(at + 8)..], g.Incarnation);
            BinaryPrimitives.WriteInt64LittleEndian(into[(at + 16)..], g.FirstIndex);
            BinaryPrimitives.WriteInt64LittleEndian(into[(at + 24)..], g.TermBefore);
            BinaryPrimitives.WriteInt64LittleEndian(into[(at + 32)..], g.LastIndex);
            BinaryPrimitives.WriteInt32LittleEndian(into[(at + 40)..], runs.Count);
            at += 44;
            foreach (var (start, term) in runs)
            {
                BinaryPrimitives.WriteInt64LittleEndian(into[at..], start);
                BinaryPrimitives.WriteInt64LittleEndian(into[(at + 8)..], term);
                at += 16;
            }
            BinaryPrimitives.WriteInt32LittleEndian(into[at..], g.HardState?.Length ?? -1);
            at += 4;
            g.HardState?.CopyTo(into[at..]);
            at += g.HardState?.Length ?? 0;
        }
    }

    private static string? ApplyCheckpoint(Dictionary<long, SharedGroupState> groups, ReadOnlySpan<byte> p, long maxEntries)
    {
        long budget = maxEntries;
        if (p.Length < 4) return "a checkpoint too short for its count";
        int count = BinaryPrimitives.ReadInt32LittleEndian(p), at = 4;
        var listed = new HashSet<long>();
        for (int n = 0; n < count; n++)
        {
            if (at + 44 > p.Length) return $"checkpoint entry {n} overruns the checkpoint";
            long id = BinaryPrimitives.ReadInt64LittleEndian(p[at..]), incarnation = BinaryPrimitives.ReadInt64LittleEndian(p[(at + 8)..]);
            long first = BinaryPrimitives.ReadInt64LittleEndian(p[(at + 16)..]), termBefore = BinaryPrimitives.ReadInt64LittleEndian(p[(at + 24)..]);
            long last = BinaryPrimitives.ReadInt64LittleEndian(p[(at + 32)..]);
            int runCount = BinaryPrimitives.ReadInt32LittleEndian(p[(at + 40)..]);
            at += 44;
            if (runCount < 0 || at + 16L * runCount + 4 > p.Length) return $"checkpoint entry of group {id} overruns the checkpoint";
            if ((last >= first) != (runCount > 0) || last < first - 1) return $"checkpoint entry of group {id} has bounds {first}..{last} and {runCount} term runs";
            // The group's entries are allocated one by one below: refuse a count no file can back before that, not
            // after gigabytes (last - first is exact as an unsigned number even where the signed one overflows).
            if (last >= first && (ulong)(last - first) >= (ulong)budget)
                return $"checkpoint entry of group {id} lists entries {first}..{last}, more than the log's files can hold ({budget} entries left)";
            if (last >= first) budget -= last - first + 1;
            var runs = new (long Start, long Term)[runCount];
            for (int r = 0; r < runCount; r++, at += 16)
                runs[r] = (BinaryPrimitives.ReadInt64LittleEndian(p[at..]), BinaryPrimitives.ReadInt64LittleEndian(p[(at + 8)..]));
            if (runCount > 0 && runs[0].Start != first) return $"checkpoint entry of group {id}: its term runs start at {runs[0].Start}, not {first}";
            int hsLength = BinaryPrimitives.ReadInt32LittleEndian(p[at..]);
            at += 4;
            // Subtracted, not added: a length near int.MaxValue would overflow the sum and pass.
            if (hsLength < -1 || hsLength > p.Length - at) return $"checkpoint entry of group {id}: hard state overruns the checkpoint";
            byte[]? hardState = hsLength < 0 ? null : p.Slice(at, hsLength).ToArray();
            at += Math.Max(hsLength, 0);
            if (!groups.TryGetValue(id, out var g) || g.Incarnation != incarnation) groups[id] = g = new SharedGroupState(id, incarnation);
            g.ApplyCheckpoint(first, termBefore, runs, last, hardState);
            listed.Add(id);
        }
        if (at != p.Length) return $"a checkpoint has {p.Length - at} bytes after its {count} groups";
        // A group the checkpoint does not list was removed before it was written.
        foreach (var id in groups.Keys.Where(id => !listed.Contains(id)).ToList()) groups.Remove(id);
        return null;
    }
}
