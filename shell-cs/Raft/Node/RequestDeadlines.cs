using System.Collections.Concurrent;

namespace Raft.Node;

/// <summary>
/// Times out callers' proposals and reads without a timer per call (a timer, a cancellation promise and an async
/// state machine per call cost more than the rest of a batched proposal's trip through the host). Calls with the same
/// limit expire in the order they were made, so each distinct limit has one FIFO lane, and the node's tick timer
/// looks at the lanes' heads: a completed call is dropped, an expired one fails with <see cref="RaftTimeoutException"/>.
/// The timer thread does this, not the loop, so calls still time out while the loop is stuck (a hung disk).
/// A call completes within one tick interval after its limit. A completed call behind one still pending stays in its
/// lane until the one ahead completes or expires: at most one limit's worth of calls.
/// </summary>
internal sealed class RequestDeadlines
{
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<long, Lane> _lanes = new();
    private int _expiring;

    public RequestDeadlines(TimeProvider time) => _time = time;

    /// <summary>Fails <paramref name="item"/> with a timeout once <paramref name="limit"/> has passed, unless it completed.</summary>
    public void Add(IPending item, long groupId, TimeSpan limit, string what)
    {
        var lane = _lanes.GetOrAdd(limit.Ticks, static (_, s) => new Lane(s.limit, s.frequency), (limit, frequency: _time.TimestampFrequency));
        lane.Queue.Enqueue(new Entry(item, groupId, what, _time.GetTimestamp() + lane.LimitTimestampTicks));
    }

    /// <summary>Drops completed calls from the lanes' heads and fails the expired ones (the node's timer thread).</summary>
    public void Expire()
    {
        // A slow tick may overlap the next one; one walker at a time keeps each lane's head consistent.
        if (Interlocked.Exchange(ref _expiring, 1) != 0) return;
        try
        {
            var now = _time.GetTimestamp();
            foreach (var lane in _lanes.Values)
            {
                while (lane.Queue.TryPeek(out var head))
                {
                    if (!head.Item.IsCompleted)
                    {
                        if (head.Due > now) break;
                        head.Item.Fail(new RaftTimeoutException(head.GroupId, lane.Limit, head.What));
                    }
                    lane.Queue.TryDequeue(out _);
                }
            }
        }
        finally { Volatile.Write(ref _expiring, 0); }
    }

    private sealed class Lane(TimeSpan limit, long timestampFrequency)
    {
        public readonly TimeSpan Limit = limit;
        public readonly ConcurrentQueue<Entry> Queue = new();
        /// <summary>The limit in <see cref="TimeProvider.GetTimestamp"/> units.</summary>
        public readonly long LimitTimestampTicks = (long)(limit.Ticks * (timestampFrequency / (double)TimeSpan.TicksPerSecond));
    }

    private readonly record struct Entry(IPending Item, long GroupId, string What, long Due);
}
