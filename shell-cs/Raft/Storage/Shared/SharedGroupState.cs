namespace Raft.Storage;

/// <summary>Where one entry of a group lives: its term and the file and byte range of its payload. A
/// <see cref="File"/> of 0 means "no location yet" (known from a checkpoint, located by a later item during replay).</summary>
internal struct EntryRef
{
    public long Term;
    public long Offset;
    public long File;
    public int Length;

    public EntryRef(long term, long file, long offset, int length)
    {
        Term = term;
        File = file;
        Offset = offset;
        Length = length;
    }
}

/// <summary>The in-memory index of one group of the shared log: bounds, the term and location of every live entry,
/// and the newest hard state. Both the live path and recovery change it only through the <c>Apply</c> methods, so
/// replaying the log rebuilds exactly what was built while writing it.</summary>
internal sealed class SharedGroupState(long id, long incarnation)
{
    private EntryRef[] _entries = new EntryRef[4]; // a ring, capacity a power of two; small, as most groups of a node are idle
    private int _head;
    private int _count;

    public long Id { get; } = id;

    /// <summary>Which life of the group this is: the batch sequence of the batch that opened it.</summary>
    public long Incarnation { get; } = incarnation;

    public long FirstIndex { get; private set; } = 1;

    /// <summary>The term of the entry at <c>FirstIndex - 1</c>.</summary>
    public long TermBefore { get; private set; }

    public long LastIndex => FirstIndex + _count - 1;

    public int Count => _count;

    public byte[]? HardState { get; set; }

    public ref EntryRef At(long index) => ref _entries[(_head + (int)(index - FirstIndex)) & (_entries.Length - 1)];

    public long TermAt(long index) => index == FirstIndex - 1 ? TermBefore : At(index).Term;

    /// <summary>The oldest file holding a live entry, or <see cref="long.MaxValue"/> when the group has none. A scan:
    /// entries are written in index order, but a relocation that a crash interrupted leaves a prefix in a newer file
    /// than the entries after it, so the first entry's file is not enough.</summary>
    public long OldestFile()
    {
        long oldest = long.MaxValue;
        for (int i = 0; i < _count; i++)
        {
            long file = _entries[(_head + i) & (_entries.Length - 1)].File;
            if (file > 0 && file < oldest) oldest = file;
        }
        return oldest;
    }

    /// <summary>Bytes the live entries in files older than <paramref name="file"/> take there (payload and table).</summary>
    public long LiveBytesBefore(long file)
    {
        long bytes = 0;
        for (int i = 0; i < _count; i++)
        {
            ref readonly var e = ref _entries[(_head + i) & (_entries.Length - 1)];
            if (e.File < file) bytes += e.Length + 12;
        }
        return bytes;
    }

    /// <summary>Entries from <paramref name="firstIndex"/> replaced by <paramref name="entries"/>; returns why not, or null.</summary>
    public string? ApplyEntries(long firstIndex, ReadOnlySpan<EntryRef> entries)
    {
        if (firstIndex < FirstIndex || firstIndex > LastIndex + 1)
            return $"group {Id}: entries at {firstIndex} do not join its log {FirstIndex}..{LastIndex}";
        long previous = TermAt(firstIndex - 1);
        foreach (ref readonly var e in entries)
        {
            if (e.Term < previous) return $"group {Id}: terms decrease at index {firstIndex} ({e.Term} after {previous})";
            previous = e.Term;
        }
        _count = (int)(firstIndex - FirstIndex);
        foreach (ref readonly var e in entries) Add(e);
        return null;
    }

    /// <summary>Entries from <paramref name="firstIndex"/> on now live at the locations of <paramref name="entries"/>
    /// (a relocation: same indices, same terms, same payloads, rewritten into a newer file); nothing else changes.</summary>
    public string? ApplyRelocate(long firstIndex, ReadOnlySpan<EntryRef> entries)
    {
        if (firstIndex < FirstIndex || firstIndex + entries.Length - 1 > LastIndex)
            return $"group {Id}: relocated entries {firstIndex}..{firstIndex + entries.Length - 1} are not all in its log {FirstIndex}..{LastIndex}";
        for (int i = 0; i < entries.Length; i++)
        {
            ref var e = ref At(firstIndex + i);
            if (e.Term != entries[i].Term) return $"group {Id}: relocated entry {firstIndex + i} has term {entries[i].Term}, the log has {e.Term}";
            e = entries[i];
        }
        return null;
    }

    public string? ApplyTruncate(long from)
    {
        if (from < FirstIndex) return $"group {Id}: truncation at {from} below its first index {FirstIndex}";
        if (from <= LastIndex) _count = (int)(from - FirstIndex);
        return null;
    }

    /// <summary>Entries up to <paramref name="index"/> gone, later ones kept (the log held that index with that term).</summary>
    public string? ApplyCompactTo(long index, long term)
    {
        if (index < FirstIndex || index > LastIndex) return $"group {Id}: compaction to {index} outside its log {FirstIndex}..{LastIndex}";
        if (At(index).Term != term) return $"group {Id}: compaction to {index} at term {term}, but the entry there has term {At(index).Term}";
        int drop = (int)(index - FirstIndex + 1);
        _head = (_head + drop) & (_entries.Length - 1);
        _count -= drop;
        FirstIndex = index + 1;
        TermBefore = term;
        ShrinkIfSparse();
        return null;
    }

    /// <summary>Every entry gone; the log continues after <paramref name="index"/> with <paramref name="term"/>.</summary>
    public void ApplyReset(long index, long term)
    {
        _head = 0;
        _count = 0;
        FirstIndex = index + 1;
        TermBefore = term;
        ShrinkIfSparse();
    }

    /// <summary>Bounds and terms as a checkpoint lists them (entries without locations); locations of entries this
    /// state holds with the same term are kept.</summary>
    public void ApplyCheckpoint(long firstIndex, long termBefore, ReadOnlySpan<(long Start, long Term)> runs, long lastIndex, byte[]? hardState)
    {
        var old = new EntryRef[_count];
        for (int i = 0; i < _count; i++) old[i] = At(FirstIndex + i);
        long oldFirst = FirstIndex;
        ApplyReset(firstIndex - 1, termBefore);
        int run = 0;
        for (long index = firstIndex; index <= lastIndex; index++)
        {
            while (run + 1 < runs.Length && runs[run + 1].Start <= index) run++;
            long term = runs[run].Term;
            long k = index - oldFirst;
            var e = k >= 0 && k < old.Length && old[k].Term == term ? old[k] : new EntryRef(term, 0, 0, 0);
            Add(e);
        }
        HardState = hardState;
    }

    /// <summary>The term runs of the live entries, for a checkpoint.</summary>
    public List<(long Start, long Term)> Runs()
    {
        var runs = new List<(long, long)>();
        for (long i = FirstIndex; i <= LastIndex; i++)
        {
            long t = At(i).Term;
            if (runs.Count == 0 || runs[^1].Item2 != t) runs.Add((i, t));
        }
        return runs;
    }

    /// <summary>The first live index without a location, or -1.</summary>
    public long FirstUnlocated()
    {
        for (long i = FirstIndex; i <= LastIndex; i++)
            if (At(i).File == 0) return i;
        return -1;
    }

    /// <summary>A group that was busy and then compacted gives back most of its ring, so a node's idle groups stay
    /// small whatever they held once.</summary>
    private void ShrinkIfSparse()
    {
        if (_entries.Length <= 64 || _count >= _entries.Length / 4) return;
        var smaller = new EntryRef[Math.Max(4, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, _count * 2)))];
        for (int i = 0; i < _count; i++) smaller[i] = _entries[(_head + i) & (_entries.Length - 1)];
        _entries = smaller;
        _head = 0;
    }

    private void Add(in EntryRef e)
    {
        if (_count == _entries.Length)
        {
            var bigger = new EntryRef[_entries.Length * 2];
            for (int i = 0; i < _count; i++) bigger[i] = _entries[(_head + i) & (_entries.Length - 1)];
            _entries = bigger;
            _head = 0;
        }
        _entries[(_head + _count) & (_entries.Length - 1)] = e;
        _count++;
    }
}
