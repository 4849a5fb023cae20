using System.Diagnostics;
using Microsoft.FSharp.Collections;
using Raft.Core;

namespace Raft.Node;

/// <summary>One Persist effect after the loop appended its entries: what must become durable before
/// <see cref="ThenSend"/> may leave and <c>Persisted</c> may be fed back.</summary>
internal readonly struct DurableItem<TCommand, TResult>(RaftGroup<TCommand, TResult> group, byte[]? hardState, long index, long term,
    FSharpList<Message<TCommand>> thenSend)
{
    public readonly RaftGroup<TCommand, TResult> Group = group;
    /// <summary>The encoded hard state to save, or null.</summary>
    public readonly byte[]? HardState = hardState;
    /// <summary>The last appended entry, or -1 when the Persist had no entries.</summary>
    public readonly long Index = index;
    public readonly long Term = term;
    public readonly FSharpList<Message<TCommand>> ThenSend = thenSend;
}

/// <summary>
/// Group commit for every group of a node: one flusher thread takes everything the loop queued while the previous
/// round of fsyncs ran, saves each group's newest hard state, fsyncs each touched log once, and hands the whole
/// batch back to the loop in order. Entries are appended to the log by the loop before they are queued here, so a
/// flush that starts after the dequeue covers them; hard state is saved before the log is flushed, so a crash leaves
/// the hard state at least as new as the entries that depend on it.
/// </summary>
internal sealed class Durability<TCommand, TResult> : IDisposable
{
    private readonly object _gate = new();
    private List<DurableItem<TCommand, TResult>> _queue = new();
    private readonly Action<List<DurableItem<TCommand, TResult>>> _onDurable;
    private readonly Action<RaftGroup<TCommand, TResult>, Exception> _onFailure;
    private readonly RaftMetrics _metrics;
    private readonly Thread _thread;
    private readonly List<RaftGroup<TCommand, TResult>> _touched = new();
    private bool _sleeping, _stopping;
    private long _epoch;
    private volatile int _queued;

    /// <param name="onDurable">Called on the flusher thread with a durable batch; it takes ownership of the list.</param>
    /// <param name="onFailure">Called when a group's storage fails; that group's items are dropped.</param>
    public Durability(Action<List<DurableItem<TCommand, TResult>>> onDurable, Action<RaftGroup<TCommand, TResult>, Exception> onFailure, RaftMetrics metrics, long nodeId)
    {
        _onDurable = onDurable;
        _onFailure = onFailure;
        _metrics = metrics;
        _thread = new Thread(Run) { IsBackground = true, Name = $"raft-durability-{nodeId}" };
        _thread.Start();
    }

    /// <summary>Queues the items (loop thread); the list is copied.</summary>
    public void Enqueue(List<DurableItem<TCommand, TResult>> items)
    {
        if (items.Count == 0) return;
        lock (_gate)
        {
            if (_stopping) return;
            _queue.AddRange(items);
            _queued = _queue.Count;
            if (_sleeping) Monitor.Pulse(_gate);
        }
    }

    private void Run()
    {
        while (true)
        {
            // A short spin saves a thread wake-up when the loop queues the next batch right away.
            var spinUntil = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 20000; // 50 µs
            while (_queued == 0 && !_stopping && Stopwatch.GetTimestamp() < spinUntil) Thread.SpinWait(20);
            List<DurableItem<TCommand, TResult>> batch;
            lock (_gate)
            {
                while (_queue.Count == 0 && !_stopping)
                {
                    _sleeping = true;
                    Monitor.Wait(_gate);
                    _sleeping = false;
                }
                if (_queue.Count == 0) return;
                batch = _queue;
                _queue = new List<DurableItem<TCommand, TResult>>(batch.Count);
                _queued = 0;
            }
            Flush(batch);
            foreach (var item in batch)
                if (item.Index == -2) item.Group.OnClosed?.Invoke();
            _onDurable(batch);
        }
    }

    private void Flush(List<DurableItem<TCommand, TResult>> batch)
    {
        var epoch = ++_epoch;
        foreach (var item in batch)
        {
            var g = item.Group;
            if (item.Index == -2) continue; // a close marker
            if (g.FlushEpoch != epoch)
            {
                g.FlushEpoch = epoch;
                g.FlushHardState = null;
                g.FlushLog = false;
                _touched.Add(g);
            }
            if (item.HardState is not null) g.FlushHardState = item.HardState;
            if (item.Index >= 0) g.FlushLog = true;
        }
        var started = Stopwatch.GetTimestamp();
        if (_touched.Count == 1) FlushGroup(_touched[0]);
        else Parallel.ForEach(_touched, s_parallel, FlushGroup); // fsyncs of different files overlap in the device queue
        _touched.Clear();
        _metrics.PersistBatch(batch.Count, Stopwatch.GetElapsedTime(started));
        batch.RemoveAll(i => i.Group.FlushFailed);
    }

    private static readonly ParallelOptions s_parallel = new() { MaxDegreeOfParallelism = 8 };

    private void FlushGroup(RaftGroup<TCommand, TResult> g)
    {
        try
        {
            if (g.FlushHardState is { } hs) g.Storage.HardState.Save(hs);
            if (g.FlushLog) g.Storage.Log.Flush();
        }
        catch (Exception e)
        {
            g.FlushFailed = true;
            _onFailure(g, e);
        }
    }

    /// <summary>Stops after flushing what was queued (called after the loop stopped queueing).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.Pulse(_gate);
        }
        _thread.Join();
    }
}
