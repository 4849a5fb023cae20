namespace Raft.Storage;

/// <summary>
/// An in-memory <see cref="ILogStorage"/> with exactly the contract of <see cref="FileLogStorage"/> (the same contract
/// test suite runs against both). For tests and the simulator's disk; <see cref="Flush"/> only counts calls.
/// </summary>
public sealed class MemoryLogStorage : ILogStorage
{
    private readonly object _gate = new();
    private readonly List<LogRecord> _records = new(); // _records[i].Index == _firstIndex + i
    private long _firstIndex = 1;
    private long _prevTerm; // term at _firstIndex - 1
    private bool _disposed;
    private Func<long, long>? _termAtLocked;

    /// <summary>How many times <see cref="Flush"/> was called.</summary>
    public int FlushCount { get; private set; }

    public long FirstIndex { get { lock (_gate) return _firstIndex; } }

    public long LastIndex { get { lock (_gate) return _firstIndex + _records.Count - 1; } }

    public long TermAt(long index)
    {
        lock (_gate) return TermAtLocked(index);
    }

    private long TermAtLocked(long index)
    {
        long last = _firstIndex + _records.Count - 1;
        if (index == _firstIndex - 1) return _prevTerm;
        if (index < _firstIndex || index > last) throw LogContract.TermOutOfRange(index, _firstIndex, last);
        return _records[(int)(index - _firstIndex)].Term;
    }

    public void Append(ReadOnlySpan<LogRecord> records)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            LogContract.CheckAppend(records, _firstIndex, _firstIndex + _records.Count - 1, _termAtLocked ??= TermAtLocked);
            if (records.IsEmpty) return;
            TruncateLocked(records[0].Index);
            foreach (var r in records) _records.Add(new LogRecord(r.Index, r.Term, r.Payload.ToArray()));
        }
    }

    public IReadOnlyList<LogRecord> ReadRange(long from, long toInclusive, long maxBytes = long.MaxValue)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            LogContract.CheckRead(from, _firstIndex);
            long to = Math.Min(toInclusive, _firstIndex + _records.Count - 1);
            var result = new List<LogRecord>(to >= from ? (int)Math.Min(to - from + 1, 1024) : 0);
            long bytes = 0;
            for (long i = from; i <= to; i++)
            {
                var r = _records[(int)(i - _firstIndex)];
                bytes += r.Payload.Length;
                if (result.Count > 0 && bytes > maxBytes) break;
                result.Add(new LogRecord(r.Index, r.Term, r.Payload.ToArray()));
            }
            return result;
        }
    }

    public void TruncateSuffix(long fromIndex)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            LogContract.CheckTruncate(fromIndex, _firstIndex);
            TruncateLocked(fromIndex);
        }
    }

    private void TruncateLocked(long fromIndex)
    {
        int keep = (int)Math.Min(fromIndex - _firstIndex, _records.Count);
        _records.RemoveRange(keep, _records.Count - keep);
    }

    public void CompactPrefix(long upToInclusive, long termAtThatIndex)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            if (upToInclusive < _firstIndex) return;
            long last = _firstIndex + _records.Count - 1;
            if (upToInclusive < last && _records[(int)(upToInclusive - _firstIndex)].Term == termAtThatIndex)
                _records.RemoveRange(0, (int)(upToInclusive - _firstIndex + 1));
            else
                _records.Clear();
            _firstIndex = upToInclusive + 1;
            _prevTerm = termAtThatIndex;
        }
    }

    public void Flush()
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            FlushCount++;
        }
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Flush();
        return ValueTask.CompletedTask;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void Dispose()
    {
        lock (_gate) _disposed = true;
    }
}
