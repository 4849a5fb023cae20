using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Raft.Node;

/// <summary>
/// The node loop's inputs, from any thread. Two queues and one flag:
/// <list type="bullet">
/// <item>a bounded channel for peers' messages (a full one holds back the transport's readers) and for the calls
/// that change a group (open, close, campaign, transfer, configuration change);</item>
/// <item>a queue for proposals and reads from user code, up to the same capacity, whose wake-up goes through the
/// thread pool (see <see cref="WakeDeferred"/>) so that callers completed together submit together;</item>
/// <item>a flag for a due tick, so ticks never pile up behind a busy loop.</item>
/// </list>
/// A proposal or read that finds its queue full waits for room in the channel, and every later one follows it there
/// until the loop has taken it: calls keep the order they were made in even when the queue is full.
/// </summary>
internal sealed class NodeInbox<TCommand, TResult>
{
    private readonly Channel<NodeWork<TCommand, TResult>> _channel;
    private readonly ConcurrentQueue<ISubmission<TCommand, TResult>> _submitted = new();
    private readonly int _capacity;
    private int _submittedCount, _overflowing;
    // _signalled: a WakeUp is on its way (or the loop is running and will look again); _tickDue: a tick has not run yet.
    private int _signalled, _tickDue;

    public NodeInbox(int capacity)
    {
        _capacity = capacity;
        _channel = Channel.CreateBounded<NodeWork<TCommand, TResult>>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = true, // a writer whose item wakes the idle loop runs that iteration itself: one thread hop fewer per input
        });
    }

    // ---- writers ------------------------------------------------------------------------------------------------

    /// <summary>Queues a proposal or read; false when the queue is full (or calls are waiting in the channel), and the
    /// caller must use <see cref="SubmitWhenRoomAsync"/>.</summary>
    public bool TrySubmit(ISubmission<TCommand, TResult> submission)
    {
        if (Volatile.Read(ref _overflowing) != 0) return false;
        if (Interlocked.Increment(ref _submittedCount) > _capacity)
        {
            Interlocked.Decrement(ref _submittedCount);
            return false;
        }
        _submitted.Enqueue(submission);
        WakeDeferred();
        return true;
    }

    /// <summary>Waits for room in the channel, behind every call that overflowed before.</summary>
    public async ValueTask SubmitWhenRoomAsync(ISubmission<TCommand, TResult> submission, CancellationToken ct)
    {
        Interlocked.Increment(ref _overflowing);
        try { await _channel.Writer.WriteAsync(new Overflowed<TCommand, TResult>(submission), ct).ConfigureAwait(false); }
        catch
        {
            Interlocked.Decrement(ref _overflowing);
            throw;
        }
    }

    /// <summary>Queues channel work, waiting for room; throws <see cref="ChannelClosedException"/> once stopped.</summary>
    public ValueTask PostAsync(NodeWork<TCommand, TResult> work, CancellationToken ct) =>
        _channel.Writer.TryWrite(work) ? default : _channel.Writer.WriteAsync(work, ct);

    /// <summary>The timer: a tick is due.</summary>
    public void TickDue()
    {
        if (Interlocked.Exchange(ref _tickDue, 1) == 0) Wake();
    }

    /// <summary>Wakes an idle loop from the calling thread.</summary>
    public void Wake()
    {
        if (Interlocked.Exchange(ref _signalled, 1) == 0) _channel.Writer.TryWrite(WakeUp<TCommand, TResult>.Instance);
    }

    /// <summary>Wakes an idle loop through the thread pool's global queue instead of running it on the calling
    /// thread. Used for calls from user code: many callers completed by one iteration each submit their next call on
    /// the thread that ran their continuations, and the loop must not run (and fsync) for the first of them while the
    /// others still wait behind it on that thread; from the global queue it starts after them with all of them in one
    /// batch, usually on that same thread, without waking another one.</summary>
    private void WakeDeferred()
    {
        if (Interlocked.Exchange(ref _signalled, 1) == 0)
            ThreadPool.UnsafeQueueUserWorkItem(static self => self._channel.Writer.TryWrite(WakeUp<TCommand, TResult>.Instance), this, preferLocal: false);
    }

    /// <summary>No more channel work (stopping): the loop ends once it has read what is queued.</summary>
    public void Complete() => _channel.Writer.TryComplete();

    // ---- the loop -----------------------------------------------------------------------------------------------

    /// <summary>The loop starts an iteration: wake-ups from now on must signal again.</summary>
    public void Rearm() => Volatile.Write(ref _signalled, 0);

    public bool TryTakeSubmission(out ISubmission<TCommand, TResult> submission)
    {
        if (!_submitted.TryDequeue(out submission!)) return false;
        Interlocked.Decrement(ref _submittedCount);
        return true;
    }

    public bool TakeTick() => Interlocked.Exchange(ref _tickDue, 0) == 1;

    public bool TryRead(out NodeWork<TCommand, TResult> work) => _channel.Reader.TryRead(out work!);

    /// <summary>The loop took an overflowed call: once none is left, calls take the submission queue again.</summary>
    public void OverflowTaken() => Interlocked.Decrement(ref _overflowing);

    /// <summary>Anything for the loop right now.</summary>
    public bool HasWork => _channel.Reader.TryPeek(out _) || !_submitted.IsEmpty || Volatile.Read(ref _tickDue) == 1;

    /// <summary>Waits for channel work (a WakeUp included); false once the channel is completed and empty. No token:
    /// a cancellable wait allocates a waiter every time, an uncancellable one reuses the channel's.</summary>
    public ValueTask<bool> WaitAsync() => _channel.Reader.WaitToReadAsync();

    /// <summary>Proposals and reads the loop never took (the node stopped).</summary>
    public IEnumerable<ISubmission<TCommand, TResult>> DrainSubmissions()
    {
        while (TryTakeSubmission(out var s)) yield return s;
    }
}
