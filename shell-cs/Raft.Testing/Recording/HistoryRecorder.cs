namespace Raft.Testing;

/// <summary>
/// Records the operations clients make against a real cluster (invoke, then complete, fail or unknown) with
/// monotonic timestamps, for <see cref="LinearizabilityChecker"/>: a fault test of your own deployment checked the way
/// Jepsen and Porcupine users check theirs. Thread-safe (any number of client tasks) and lock-free; bounded: past
/// <see cref="Capacity"/> operations are still carried out but not recorded, and the history is cut where the
/// recorder filled (operations still running then count as unknown), which keeps the check sound.
/// </summary>
/// <remarks>Wrap calls with <see cref="RaftGroupRecording"/> (<c>recorder.ProposeAsync(client, group, ...)</c>),
/// or record any call with <see cref="Invoke"/> and one of <see cref="Complete"/>, <see cref="Fail"/>, <see cref="Unknown"/>.</remarks>
/// <typeparam name="TInput">An operation as the model sees it.</typeparam>
/// <typeparam name="TOutput">What the operation returned, as the model sees it.</typeparam>
public sealed class HistoryRecorder<TInput, TOutput>
{
    private const int Pending = 0, Done = 1, Refused = 2, Unsure = 3;
    private readonly int[] _clients;
    private readonly TInput[] _inputs;
    private readonly TOutput[] _outputs;
    private readonly long[] _calls;
    private readonly long[] _returns;
    private readonly int[] _states;
    private readonly bool[] _published;
    private readonly TimeProvider _clock;
    private readonly long _start;
    private int _next;
    private long _fullAt = long.MaxValue;

    /// <param name="capacity">Most operations recorded.</param>
    /// <param name="clock">The monotonic clock stamping calls and returns (the system's by default).</param>
    public HistoryRecorder(int capacity = 1_000_000, TimeProvider? clock = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _clock = clock ?? TimeProvider.System;
        _start = _clock.GetTimestamp();
        _clients = new int[capacity];
        _inputs = new TInput[capacity];
        _outputs = new TOutput[capacity];
        _calls = new long[capacity];
        _returns = new long[capacity];
        _states = new int[capacity];
        _published = new bool[capacity];
    }

    /// <summary>Most operations recorded.</summary>
    public int Capacity { get; }

    /// <summary>Operations recorded so far.</summary>
    public int Count => Math.Min(Volatile.Read(ref _next), Capacity);

    /// <summary>Operations invoked past <see cref="Capacity"/> (carried out, not recorded).</summary>
    public int Dropped => Math.Max(0, Volatile.Read(ref _next) - Capacity);

    /// <summary>Nanoseconds since the recorder was made, from the monotonic clock.</summary>
    public long Now() => (long)(_clock.GetElapsedTime(_start).Ticks * 100.0);

    /// <summary>Records that <paramref name="client"/> calls <paramref name="input"/> now; returns its handle (-1
    /// when the recorder is full). Call it right before the operation starts.</summary>
    public long Invoke(int client, TInput input)
    {
        var call = Now();
        var slot = Interlocked.Increment(ref _next) - 1;
        if (slot >= Capacity)
        {
            // The first call that did not fit marks where the history must be cut.
            long seen;
            while (call < (seen = Volatile.Read(ref _fullAt)) && Interlocked.CompareExchange(ref _fullAt, call, seen) != seen) { }
            return -1;
        }
        _clients[slot] = client;
        _inputs[slot] = input;
        _calls[slot] = call;
        Volatile.Write(ref _published[slot], true);
        return slot;
    }

    /// <summary>The operation returned <paramref name="output"/> (it took effect between its call and now).</summary>
    public void Complete(long handle, TOutput output)
    {
        if (handle < 0) return;
        _outputs[handle] = output;
        End(handle, Done);
    }

    /// <summary>The operation certainly did not take effect (refused, not leader).</summary>
    public void Fail(long handle) => End(handle, Refused);

    /// <summary>The client will never learn whether the operation took effect (timeout, lost connection).</summary>
    public void Unknown(long handle) => End(handle, Unsure);

    private void End(long handle, int state)
    {
        if (handle < 0) return;
        _returns[handle] = Now();
        if (Interlocked.CompareExchange(ref _states[handle], state, Pending) != Pending)
            throw new InvalidOperationException($"operation {handle} already ended");
    }

    /// <summary>When the first operation that did not fit was called (null while the recorder is not full).</summary>
    public long? FullAt => Volatile.Read(ref _fullAt) is var t && t != long.MaxValue ? t : null;

    /// <summary>The history so far, in call order of the slots: operations still running are unknown, and when the
    /// recorder is full, operations that returned after <see cref="FullAt"/> are unknown too.</summary>
    public IReadOnlyList<HistoryOperation<TInput, TOutput>> Operations()
    {
        var cut = Volatile.Read(ref _fullAt);
        var list = new List<HistoryOperation<TInput, TOutput>>(Count);
        for (var i = 0; i < Count; i++)
        {
            if (!Volatile.Read(ref _published[i])) continue;
            var state = Volatile.Read(ref _states[i]);
            var returned = _returns[i];
            // A return stamped at the cut itself cannot be ordered against the call that did not fit (two reads of a
            // clock in the same tick), so it counts as after it: unknown is always a safe claim.
            if (state != Pending && state != Unsure && returned >= cut) state = Unsure;
            list.Add(state switch
            {
                Done => HistoryOperation<TInput, TOutput>.Completed(_clients[i], _inputs[i], _calls[i], returned, _outputs[i]),
                Refused => HistoryOperation<TInput, TOutput>.Failed(_clients[i], _inputs[i], _calls[i], returned),
                Unsure => new HistoryOperation<TInput, TOutput>(_clients[i], _inputs[i], _calls[i], OperationOutcome.Unknown, Math.Max(returned, _calls[i]), default),
                _ => HistoryOperation<TInput, TOutput>.Unknown(_clients[i], _inputs[i], _calls[i]),
            });
        }
        return list;
    }
}
