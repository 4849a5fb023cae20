using Raft.Storage;

namespace Raft.Fuzz;

/// <summary>What a recovered log must satisfy, whatever bytes it was recovered from.</summary>
internal static class LogChecks
{
    /// <summary>Reads every entry of <paramref name="log"/> and checks each against the log's own term index: the
    /// range is whole, in order, and every entry carries the term <see cref="ILogStorage.TermAt"/> reports.</summary>
    public static void ReadWhole(ILogStorage log, string what)
    {
        long first = log.FirstIndex, last = log.LastIndex;
        if (last < first) return;
        var records = log.ReadRange(first, last);
        if (records.Count != last - first + 1) throw new FuzzViolation($"{what}: ReadRange({first}, {last}) returned {records.Count} entries");
        for (int i = 0; i < records.Count; i++)
        {
            var r = records[i];
            if (r.Index != first + i) throw new FuzzViolation($"{what}: entry {i} of the range holds index {r.Index}, expected {first + i}");
            if (log.TermAt(r.Index) is var t && t != r.Term)
                throw new FuzzViolation($"{what}: entry {r.Index} was read with term {r.Term}, but the recovered log says term {t}");
        }
    }
}
