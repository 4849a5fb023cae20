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
    /// <summary>The last appended entry, -1 when the Persist had no entries, -2 for a group's close marker.</summary>
    public readonly long Index = index;
    public readonly long Term = term;
    public readonly FSharpList<Message<TCommand>> ThenSend = thenSend;
}

/// <summary>
/// Group commit for every group of a node, run by the loop at the end of an iteration: everything the iteration
/// persisted is made durable at once (each group's newest hard state saved, each touched log fsynced once, groups
/// in parallel). The loop does it itself rather than handing it to a flusher thread: a wake-up of another thread
/// and a wake-up back cost more than the fsync on a small machine, and the inputs that arrive meanwhile simply
/// queue up and form the next batch. Entries are appended by the loop before the flush, so it covers them; hard
/// state is saved before the log is flushed, so a crash leaves the hard state at least as new as the entries that
/// depend on it. Messages the core may send at once (the leader's appends) left before the flush began.
/// </summary>
internal sealed class Durability<TCommand, TResult>
{
    private readonly Action<RaftGroup<TCommand, TResult>, Exception> _onFailure;
    private readonly RaftMetrics _metrics;
    private readonly List<RaftGroup<TCommand, TResult>> _touched = new();
    private readonly Action<RaftGroup<TCommand, TResult>> _flushGroup;
    private long _epoch;

    /// <param name="onFailure">Called (possibly on a thread-pool thread) when a group's storage fails; that group's
    /// items are dropped from this and every later batch.</param>
    /// <param name="metrics">Counts batches and their duration.</param>
    public Durability(Action<RaftGroup<TCommand, TResult>, Exception> onFailure, RaftMetrics metrics)
    {
        _onFailure = onFailure;
        _metrics = metrics;
        _flushGroup = FlushGroup;
    }

    /// <summary>Makes the batch durable (loop thread); removes the items of groups whose storage failed and closes
    /// the groups whose close marker it holds.</summary>
    public void Flush(List<DurableItem<TCommand, TResult>> batch)
    {
        var epoch = ++_epoch;
        var closing = false;
        foreach (var item in batch)
        {
            var g = item.Group;
            if (item.Index == -2)
            {
                closing = true;
                continue;
            }
            // Items that only wait (an acknowledgement of nothing new) need no IO of their own.
            if (item.HardState is null && item.Index < 0) continue;
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
        if (_touched.Count > 0)
        {
            var started = Stopwatch.GetTimestamp();
            if (_touched.Count == 1) FlushGroup(_touched[0]);
            else Parallel.ForEach(_touched, s_parallel, _flushGroup); // fsyncs of different files overlap in the device queue
            _touched.Clear();
            _metrics.PersistBatch(batch.Count, Stopwatch.GetElapsedTime(started));
        }
        // Close markers first: a group whose storage failed is still closed when it is removed.
        if (closing)
            foreach (var item in batch)
                if (item.Index == -2) item.Group.OnClosed?.Invoke();
        var failed = false;
        foreach (var item in batch) failed |= item.Group.FlushFailed;
        if (failed) batch.RemoveAll(static i => i.Group.FlushFailed);
    }

    private static readonly ParallelOptions s_parallel = new() { MaxDegreeOfParallelism = 8 };

    private void FlushGroup(RaftGroup<TCommand, TResult> g)
    {
        try
        {
            // The log first: a hard state's commit index may cover entries of its own write, and must never reach the
            // disk without them (a crash in between would commit what the log does not hold, or what it overwrote).
            if (g.FlushLog) g.Storage.Log.Flush();
            if (g.FlushHardState is { } hs) g.Storage.HardState.Save(hs);
        }
        catch (Exception e)
        {
            g.FlushFailed = true;
            _onFailure(g, e);
        }
    }
}
