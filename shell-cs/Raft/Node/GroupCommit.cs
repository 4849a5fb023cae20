using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.FSharp.Collections;
using Raft.Core;
using Raft.Storage;

namespace Raft.Node;

/// <summary>One Persist effect after the loop appended its entries (or a group's close): what must become durable
/// before <see cref="ThenSend"/> may leave and <c>Persisted</c> may be fed back.</summary>
internal readonly struct DurableItem<TCommand, TResult>
{
    public readonly GroupRuntime<TCommand, TResult> Group;
    /// <summary>The encoded hard state to save, or null.</summary>
    public readonly byte[]? HardState;
    /// <summary>The Persist appended entries; <see cref="Last"/> is the last of them.</summary>
    public readonly bool HasEntries;
    public readonly LogPosition Last;
    public readonly FSharpList<Message<TCommand>> ThenSend;
    /// <summary>Not a write: the group closes once every write queued before this item is durable.</summary>
    public readonly bool ClosesGroup;

    private DurableItem(GroupRuntime<TCommand, TResult> group, byte[]? hardState, bool hasEntries, LogPosition last,
        FSharpList<Message<TCommand>> thenSend, bool closesGroup)
    {
        Group = group;
        HardState = hardState;
        HasEntries = hasEntries;
        Last = last;
        ThenSend = thenSend;
        ClosesGroup = closesGroup;
    }

    public static DurableItem<TCommand, TResult> Persist(GroupRuntime<TCommand, TResult> group, byte[]? hardState, LogPosition? last,
        FSharpList<Message<TCommand>> thenSend) =>
        new(group, hardState, last.HasValue, last.GetValueOrDefault(), thenSend, false);

    public static DurableItem<TCommand, TResult> Close(GroupRuntime<TCommand, TResult> group) =>
        new(group, null, false, default, FSharpList<Message<TCommand>>.Empty, true);
}

/// <summary>
/// Group commit for every group of a node, run by the loop at the end of an iteration: everything the iteration
/// persisted is made durable at once (each touched log fsynced once, then each group's newest hard state saved,
/// groups in parallel). The loop does it itself rather than handing it to a flusher thread: a wake-up of another
/// thread and a wake-up back cost more than the fsync on a small machine, and the inputs that arrive meanwhile
/// simply queue up and form the next round. Entries are appended by the loop before the round, so it covers them;
/// the log is flushed before the hard state is saved, so a hard state never reaches the disk ahead of the entries
/// its commit index covers. Messages the core may send at once (the leader's appends) left before the round began.
/// </summary>
internal sealed class GroupCommit<TCommand, TResult>
{
    private readonly RaftMetrics _metrics;
    private readonly List<GroupRuntime<TCommand, TResult>> _touched = new();
    private readonly ConcurrentQueue<(GroupRuntime<TCommand, TResult> Group, Exception Error)> _failures = new();
    private readonly Action<GroupRuntime<TCommand, TResult>> _flushGroup;
    private long _round;

    public GroupCommit(RaftMetrics metrics)
    {
        _metrics = metrics;
        _flushGroup = FlushGroup;
    }

    /// <summary>Makes the batch durable (loop thread), closes the groups whose close item it holds, and removes the
    /// items of groups whose storage failed; those groups and their errors are added to <paramref name="failed"/>.</summary>
    public void Run(List<DurableItem<TCommand, TResult>> batch, List<(GroupRuntime<TCommand, TResult> Group, Exception Error)> failed)
    {
        var round = ++_round;
        var closing = false;
        foreach (var item in batch)
        {
            if (item.ClosesGroup)
            {
                closing = true;
                continue;
            }
            // Items that only wait (an acknowledgement of nothing new) need no IO of their own.
            if (item.HardState is null && !item.HasEntries) continue;
            var g = item.Group;
            if (g.CommitRound != round)
            {
                g.CommitRound = round;
                g.CommitHardState = null;
                g.CommitLog = false;
                _touched.Add(g);
            }
            if (item.HardState is not null) g.CommitHardState = item.HardState;
            if (item.HasEntries) g.CommitLog = true;
        }
        if (_touched.Count > 0)
        {
            var started = Stopwatch.GetTimestamp();
            CommitShared();
            if (_touched.Count == 1) FlushGroup(_touched[0]);
            else if (_touched.Count > 1) Parallel.ForEach(_touched, s_parallel, _flushGroup); // fsyncs of different files overlap in the device queue
            _touched.Clear();
            _metrics.GroupCommitted(batch.Count, Stopwatch.GetElapsedTime(started));
        }
        // Close items first: a group whose storage failed is still closed when it is removed.
        if (closing)
            foreach (var item in batch)
                if (item.ClosesGroup) item.Group.OnClosed?.Invoke();
        while (_failures.TryDequeue(out var failure)) failed.Add(failure);
        // A group whose storage failed (in this round or before) sends nothing that depended on its writes.
        var anyFailed = false;
        foreach (var item in batch) anyFailed |= item.Group.CommitFailed;
        if (anyFailed) batch.RemoveAll(static i => i.Group.CommitFailed && !i.ClosesGroup);
    }

    /// <summary>The touched groups whose storage is a <see cref="SharedLog"/>: each one's hard state staged in the same
    /// batch as its entries, then one commit (one fdatasync) per shared log for all of them. They leave
    /// <see cref="_touched"/>; a failed commit fails every group of the round on that log (the log refuses further use,
    /// so the node's other groups fail with their next write).</summary>
    private void CommitShared()
    {
        foreach (var g in _touched)
        {
            if (g.Storage.Log is not SharedGroupLog view) continue;
            _sharedGroups.Add(g);
            if (!_sharedLogs.Contains(view.Log)) _sharedLogs.Add(view.Log);
            try
            {
                if (g.CommitHardState is { } hs) ((SharedHardState)g.Storage.HardState).Stage(hs);
            }
            catch (Exception e)
            {
                g.CommitFailed = true;
                _failures.Enqueue((g, e));
            }
        }
        if (_sharedGroups.Count == 0) return;
        _touched.RemoveAll(static g => g.Storage.Log is SharedGroupLog);
        foreach (var log in _sharedLogs)
        {
            try
            {
                var syncs = log.DataSyncs;
                log.Commit();
                if (log.DataSyncs != syncs) _metrics.DataSynced(log.LastDataSyncDuration);
            }
            catch (Exception e)
            {
                foreach (var g in _sharedGroups)
                    if (!g.CommitFailed && ((SharedGroupLog)g.Storage.Log).Log == log)
                    {
                        g.CommitFailed = true;
                        _failures.Enqueue((g, e));
                    }
            }
        }
        _sharedGroups.Clear();
        _sharedLogs.Clear();
    }

    private readonly List<GroupRuntime<TCommand, TResult>> _sharedGroups = new();
    private readonly List<SharedLog> _sharedLogs = new();

    private static readonly ParallelOptions s_parallel = new() { MaxDegreeOfParallelism = 8 };

    private void FlushGroup(GroupRuntime<TCommand, TResult> g)
    {
        try
        {
            // The log first: a hard state's commit index may cover entries of its own write, and must never reach the
            // disk without them (a crash in between would commit what the log does not hold, or what it overwrote).
            if (g.CommitLog) g.Storage.Log.Flush();
            if (g.CommitHardState is { } hs) g.Storage.HardState.Save(hs);
        }
        catch (Exception e)
        {
            g.CommitFailed = true;
            _failures.Enqueue((g, e));
        }
    }
}
