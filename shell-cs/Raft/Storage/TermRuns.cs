namespace Raft.Storage;

/// <summary>The terms of a log as runs: run <c>i</c> covers indices from <c>starts[i]</c> up to the next run's start
/// (or the log's end) with term <c>terms[i]</c>. One entry per term change, never one per index.</summary>
internal sealed class TermRuns
{
    private long[] _starts = new long[8];
    private long[] _terms = new long[8];
    private int _count;

    public int Count => _count;

    public void Clear() => _count = 0;

    /// <summary>Notes that <paramref name="index"/> (the new last index) has <paramref name="term"/>.</summary>
    public void Add(long index, long term)
    {
        if (_count > 0 && _terms[_count - 1] == term) return;
        if (_count == _starts.Length)
        {
            Array.Resize(ref _starts, _count * 2);
            Array.Resize(ref _terms, _count * 2);
        }
        _starts[_count] = index;
        _terms[_count] = term;
        _count++;
    }

    /// <summary>The term at an index known to be covered (at or after the first run's start).</summary>
    public long TermAt(long index)
    {
        int lo = 0, hi = _count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >> 1;
            if (_starts[mid] <= index) lo = mid; else hi = mid - 1;
        }
        return _terms[lo];
    }

    /// <summary>Forgets indices at or after <paramref name="index"/>.</summary>
    public void TruncateFrom(long index)
    {
        while (_count > 0 && _starts[_count - 1] >= index) _count--;
    }

    /// <summary>Forgets indices before <paramref name="firstIndex"/>, which must be covered.</summary>
    public void CompactTo(long firstIndex)
    {
        if (_count == 0) return;
        int keep = 0;
        while (keep + 1 < _count && _starts[keep + 1] <= firstIndex) keep++;
        if (keep > 0)
        {
            Array.Copy(_starts, keep, _starts, 0, _count - keep);
            Array.Copy(_terms, keep, _terms, 0, _count - keep);
            _count -= keep;
        }
        if (_starts[0] < firstIndex) _starts[0] = firstIndex;
    }

    /// <summary>Checks that terms never decrease; returns the first index where one does, or -1.</summary>
    public long FirstDecrease(long previousTerm)
    {
        for (int i = 0; i < _count; i++)
        {
            if (_terms[i] < previousTerm) return _starts[i];
            previousTerm = _terms[i];
        }
        return -1;
    }
}
