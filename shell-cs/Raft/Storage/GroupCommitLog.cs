using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Tasks.Sources;

namespace Raft.Storage;

/// <summary>Options of <see cref="GroupCommitLog"/>.</summary>
public sealed class GroupCommitOptions
{
    /// <summary>After a flush, the flusher spins this long for new appends before sleeping (50 µs), which saves a
    /// thread wake-up when appends arrive back to back. Zero disables spinning.</summary>
    public TimeSpan SpinBeforeSleep { get; init; } = TimeSpan.FromMicroseconds(50);

    /// <summary>When fewer appends are waiting than the previous batch completed, wait for the rest of those appenders
    /// (they are being woken) before the next fsync: at most half the last fsync's duration and at most this (200 µs).
    /// Without it, concurrent appenders split into two alternating half-size batches. Zero disables it.</summary>
    public TimeSpan MaxBatchLinger { get; init; } = TimeSpan.FromMicroseconds(200);
}

/// <summary>
/// Group commit over an <see cref="ILogStorage"/>: appends go to the log immediately (any thread), and one flusher
/// thread makes them durable. Every append that arrives while an fsync is running is covered by the next single
/// fsync. Each append's <see cref="ValueTask{DurableMark}"/> completes with its (lastIndex, lastTerm) once durable, and
/// the optional callback reports the last append of each durable batch (the host turns it into the core's
/// <c>Persisted</c> input).
/// </summary>
/// <remarks>Continuations of the returned tasks run on the thread pool, never on the flusher, so a slow awaiter does
/// not delay the next fsync. If a flush fails, every waiting and later append fails with that error.</remarks>
public sealed class GroupCommitLog : IDisposable
{
    private readonly ILogStorage _log;
    private readonly bool _ownsLog;
    private readonly Action<DurableMark>? _onDurable;
    private readonly long _spinTicks, _lingerTicks;
    private readonly object _gate = new();
    private readonly Queue<Waiter> _pending = new();       // ascending Seq; guarded by _gate
    private readonly ConcurrentQueue<Waiter> _pool = new();
    private readonly List<Waiter> _completing = new();     // flusher thread only
    private readonly Thread _flusher;
    private long _appendSeq;      // appends so far (guarded by _gate; read racily by the spinning flusher)
    private long _durableSeq;     // appends durable so far (written by the flusher only)
    private DurableMark _lastMark;
    private DurableMark _lastDurable;
    private bool _flusherSleeping, _stopping;
    private Exception? _fault;

    /// <param name="log">The log to write to.</param>
    /// <param name="onDurable">Called on the flusher thread after each batch is on disk with the tag of its last
    /// append, before the batch's tasks complete. Must be quick and must not throw (an exception faults the
    /// log).</param>
    /// <param name="options">Tuning; defaults suit a host loop with many concurrent proposers.</param>
    /// <param name="ownsLog">Dispose <paramref name="log"/> with this object.</param>
    public GroupCommitLog(ILogStorage log, Action<DurableMark>? onDurable = null, GroupCommitOptions? options = null, bool ownsLog = true)
    {
        _log = log;
        _ownsLog = ownsLog;
        _onDurable = onDurable;
        options ??= new GroupCommitOptions();
        _spinTicks = (long)(options.SpinBeforeSleep.TotalSeconds * Stopwatch.Frequency);
        _lingerTicks = (long)(options.MaxBatchLinger.TotalSeconds * Stopwatch.Frequency);
        _lastMark = _lastDurable = new DurableMark(log.LastIndex, log.TermAt(log.LastIndex));
        _flusher = new Thread(FlushLoop) { IsBackground = true, Name = "raft-group-commit" };
        _flusher.Start();
    }

    /// <summary>The underlying log, for reads and term lookups (it is thread-safe).</summary>
    public ILogStorage Storage => _log;

    /// <summary>The tag of the last durable batch.</summary>
    public DurableMark LastDurable { get { lock (_gate) return _lastDurable; } }

    /// <summary>Appends records (see <see cref="ILogStorage.Append"/>); completes when they are durable.</summary>
    public ValueTask<DurableMark> AppendAsync(ReadOnlySpan<LogRecord> records)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            _log.Append(records);
            if (records.IsEmpty) return WaitLocked();
            _lastMark = new DurableMark(records[^1].Index, records[^1].Term);
            return EnqueueLocked(true);
        }
    }

    /// <summary>Appends one record with the next index (<c>LastIndex + 1</c>), as a leader does for a proposal.</summary>
    public ValueTask<DurableMark> AppendNextAsync(long term, ReadOnlyMemory<byte> payload)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            var record = new LogRecord(_log.LastIndex + 1, term, payload);
            _log.Append(new ReadOnlySpan<LogRecord>(in record));
            _lastMark = new DurableMark(record.Index, term);
            return EnqueueLocked(true);
        }
    }

    /// <summary>Appends without a per-append task; durability is reported through the callback only.</summary>
    public void Append(ReadOnlySpan<LogRecord> records)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            _log.Append(records);
            if (records.IsEmpty) return;
            _lastMark = new DurableMark(records[^1].Index, records[^1].Term);
            EnqueueLocked(false);
        }
    }

    /// <summary>Completes when everything appended before the call is durable.</summary>
    public ValueTask<DurableMark> WhenDurableAsync()
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            return WaitLocked();
        }
    }

    /// <summary>See <see cref="ILogStorage.TruncateSuffix"/>. Appends still waiting complete with their own tags.</summary>
    public void TruncateSuffix(long fromIndex)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            _log.TruncateSuffix(fromIndex);
            _lastMark = new DurableMark(_log.LastIndex, _log.TermAt(_log.LastIndex));
        }
    }

    /// <summary>See <see cref="ILogStorage.CompactPrefix"/>.</summary>
    public void CompactPrefix(long upToInclusive, long termAtThatIndex)
    {
        lock (_gate)
        {
            ThrowIfUnusable();
            _log.CompactPrefix(upToInclusive, termAtThatIndex);
            _lastMark = new DurableMark(_log.LastIndex, _log.TermAt(_log.LastIndex));
        }
    }

    private ValueTask<DurableMark> WaitLocked()
    {
        if (_appendSeq == _durableSeq) return new ValueTask<DurableMark>(_lastDurable);
        var w = Rent();
        w.Seq = _appendSeq;
        w.Mark = _lastMark;
        _pending.Enqueue(w);
        return w.Task;
    }

    private ValueTask<DurableMark> EnqueueLocked(bool wantTask)
    {
        long seq = ++_appendSeq;
        ValueTask<DurableMark> task = default;
        if (wantTask)
        {
            var w = Rent();
            w.Seq = seq;
            w.Mark = _lastMark;
            _pending.Enqueue(w);
            task = w.Task;
        }
        if (_flusherSleeping) Monitor.Pulse(_gate);
        return task;
    }

    private void FlushLoop()
    {
        int lastBatch = 0;
        long lastFsyncTicks = 0;
        while (true)
        {
            SpinFor(_spinTicks, 1);
            if (lastBatch > 1) SpinFor(Math.Min(_lingerTicks, lastFsyncTicks / 2), lastBatch);
            long target;
            DurableMark mark;
            lock (_gate)
            {
                while (_appendSeq == _durableSeq && !_stopping)
                {
                    _flusherSleeping = true;
                    Monitor.Wait(_gate);
                    _flusherSleeping = false;
                }
                if (_appendSeq == _durableSeq) return;
                target = _appendSeq;
                mark = _lastMark;
            }
            long started = Stopwatch.GetTimestamp();
            try
            {
                _log.Flush();
            }
            catch (Exception e)
            {
                FailAll(e);
                return;
            }
            lastFsyncTicks = Stopwatch.GetTimestamp() - started;
            // The callback runs before the batch counts as durable here, so whoever sees durability through this
            // object (a completed task, WhenDurableAsync) also knows the callback has seen it. A throwing callback
            // still leaves the batch's waiters completed, not failed: their appends are on disk.
            Exception? callbackFailure = null;
            try
            {
                _onDurable?.Invoke(mark);
            }
            catch (Exception e)
            {
                callbackFailure = e;
            }
            lock (_gate)
            {
                lastBatch = (int)Math.Min(target - _durableSeq, int.MaxValue);
                _durableSeq = target;
                _lastDurable = mark;
                while (_pending.Count > 0 && _pending.Peek().Seq <= target) _completing.Add(_pending.Dequeue());
            }
            foreach (var w in _completing) w.Complete();
            _completing.Clear();
            if (callbackFailure is not null)
            {
                FailAll(callbackFailure);
                return;
            }
        }
    }

    /// <summary>Waits (yielding the CPU to the appenders) until at least <paramref name="wanted"/> appends are waiting
    /// or the time is up.</summary>
    private void SpinFor(long ticks, int wanted)
    {
        if (ticks <= 0 || Volatile.Read(ref _appendSeq) - _durableSeq >= wanted) return;
        long until = Stopwatch.GetTimestamp() + ticks;
        while (Volatile.Read(ref _appendSeq) - _durableSeq < wanted && !Volatile.Read(ref _stopping) && Stopwatch.GetTimestamp() < until)
            Thread.Yield();
    }

    private void FailAll(Exception e)
    {
        lock (_gate)
        {
            _fault ??= e;
            while (_pending.Count > 0) _completing.Add(_pending.Dequeue());
        }
        foreach (var w in _completing) w.Fail(e);
        _completing.Clear();
    }

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (_fault is not null)
            throw new StorageException($"Group commit stopped after a failure: {_fault.Message}", (_log as FileLogStorage)?.Directory ?? "", _fault);
    }

    private Waiter Rent() => _pool.TryDequeue(out var w) ? w : new Waiter(this);

    /// <summary>Stops the flusher after a last flush of what was appended, then disposes the log if owned.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopping) return;
            _stopping = true;
            Monitor.Pulse(_gate);
        }
        _flusher.Join();
        FailAll(new ObjectDisposedException(nameof(GroupCommitLog)));
        if (_ownsLog) _log.Dispose();
    }

    /// <summary>A pooled awaitable for one append.</summary>
    private sealed class Waiter : IValueTaskSource<DurableMark>
    {
        private readonly GroupCommitLog _owner;
        private ManualResetValueTaskSourceCore<DurableMark> _core = new() { RunContinuationsAsynchronously = true };
        public long Seq;
        public DurableMark Mark;

        public Waiter(GroupCommitLog owner) => _owner = owner;

        public ValueTask<DurableMark> Task => new(this, _core.Version);

        public void Complete() => _core.SetResult(Mark);

        public void Fail(Exception e) => _core.SetException(e);

        public DurableMark GetResult(short token)
        {
            try { return _core.GetResult(token); }
            finally
            {
                _core.Reset();
                _owner._pool.Enqueue(this);
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
