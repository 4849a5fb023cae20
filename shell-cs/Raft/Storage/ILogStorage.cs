using System.Runtime.InteropServices;

namespace Raft.Storage;

/// <summary>
/// The Raft log as bytes: contiguous records <c>FirstIndex..LastIndex</c> plus the term of the entry just before
/// <c>FirstIndex</c> (the last compacted one). Implementations are safe to call from several threads; in particular
/// <see cref="Flush"/> may run on one thread while another appends.
/// </summary>
/// <remarks>Nothing is durable until a <see cref="Flush"/> that started after the append has returned.</remarks>
public interface ILogStorage : IDisposable
{
    /// <summary>The first retained index: 1 for a fresh log, <c>snapshotIndex + 1</c> after compaction.</summary>
    long FirstIndex { get; }

    /// <summary>The last index; <c>FirstIndex - 1</c> when the log is empty.</summary>
    long LastIndex { get; }

    /// <summary>The term of the entry at <paramref name="index"/>, for <c>FirstIndex - 1 &lt;= index &lt;= LastIndex</c>
    /// (0 for index 0 of a fresh log). Served from memory.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The index is compacted away or beyond the end.</exception>
    long TermAt(long index);

    /// <summary>Appends contiguous records with non-decreasing terms. The first index may be anything in
    /// <c>FirstIndex..LastIndex + 1</c>; everything at or after it is truncated first (a conflict rewrite).
    /// Payloads are copied before this returns.</summary>
    void Append(ReadOnlySpan<LogRecord> records);

    /// <summary>Records <c>from..min(toInclusive, LastIndex)</c>, stopping before the payload total would exceed
    /// <paramref name="maxBytes"/> (at least one record is returned when the range is not empty).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="from"/> is below <see cref="FirstIndex"/>.</exception>
    /// <exception cref="StorageCorruptedException">A record in the range fails its checksum.</exception>
    IReadOnlyList<LogRecord> ReadRange(long from, long toInclusive, long maxBytes = long.MaxValue);

    /// <summary>Removes every record at or after <paramref name="fromIndex"/> (no-op past the end).</summary>
    void TruncateSuffix(long fromIndex);

    /// <summary>Discards records up to <paramref name="upToInclusive"/> after a snapshot at that index and term. If the
    /// log holds that index with that term, later records are kept; otherwise the whole log is discarded (Raft §7).
    /// Afterwards <c>FirstIndex = upToInclusive + 1</c> and <c>TermAt(upToInclusive) = termAtThatIndex</c>.
    /// Durable when it returns.</summary>
    void CompactPrefix(long upToInclusive, long termAtThatIndex);

    /// <summary>Makes everything appended before the call durable.</summary>
    void Flush();

    /// <summary>Asynchronous <see cref="Flush"/>.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken = default);
}

/// <summary>Conveniences over <see cref="ILogStorage"/>.</summary>
public static class LogStorageExtensions
{
    /// <summary>Appends a list of records (arrays and <see cref="List{T}"/> without copying).</summary>
    public static void Append(this ILogStorage log, IReadOnlyList<LogRecord> records)
    {
        switch (records)
        {
            case LogRecord[] array: log.Append(array.AsSpan()); return;
            case List<LogRecord> list: log.Append(CollectionsMarshal.AsSpan(list)); return;
        }
        var copy = new LogRecord[records.Count];
        for (int i = 0; i < copy.Length; i++) copy[i] = records[i];
        log.Append(copy.AsSpan());
    }

    /// <summary>The term of the last entry (or of the compaction point when the log is empty).</summary>
    public static long LastTerm(this ILogStorage log) => log.TermAt(log.LastIndex);
}

/// <summary>Argument checks shared by every <see cref="ILogStorage"/> so they reject the same inputs.</summary>
internal static class LogContract
{
    public static void CheckAppend(ReadOnlySpan<LogRecord> records, long firstIndex, long lastIndex, Func<long, long> termAt)
    {
        if (records.IsEmpty) return;
        long start = records[0].Index;
        if (start < firstIndex)
            throw new ArgumentOutOfRangeException(nameof(records), $"Append at index {start} is below FirstIndex {firstIndex} (compacted).");
        if (start > lastIndex + 1)
            throw new ArgumentException($"Append at index {start} leaves a gap after LastIndex {lastIndex}.", nameof(records));
        long prevTerm = termAt(start - 1);
        for (int i = 0; i < records.Length; i++)
        {
            ref readonly var r = ref records[i];
            if (r.Index != start + i)
                throw new ArgumentException($"Records are not contiguous: expected index {start + i}, got {r.Index}.", nameof(records));
            if (r.Term < prevTerm || r.Term < 0)
                throw new ArgumentException($"Term {r.Term} at index {r.Index} is lower than the previous term {prevTerm}.", nameof(records));
            prevTerm = r.Term;
        }
    }

    public static ArgumentOutOfRangeException TermOutOfRange(long index, long firstIndex, long lastIndex) =>
        new(nameof(index), $"No term for index {index}: the log holds terms for {firstIndex - 1}..{lastIndex}.");

    public static void CheckRead(long from, long firstIndex)
    {
        if (from < firstIndex)
            throw new ArgumentOutOfRangeException(nameof(from), $"Index {from} is compacted (FirstIndex is {firstIndex}).");
    }

    public static void CheckTruncate(long fromIndex, long firstIndex)
    {
        if (fromIndex < firstIndex)
            throw new ArgumentOutOfRangeException(nameof(fromIndex), $"Cannot truncate from {fromIndex}: entries below FirstIndex {firstIndex} are compacted (committed).");
    }
}
