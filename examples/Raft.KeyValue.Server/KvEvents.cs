using System.Text.Json;
using System.Threading.Channels;
using Raft.AspNetCore;
using Raft.MultiRaft;
using Raft.Node;

namespace Raft.KeyValue.Server;

/// <summary>
/// This node's event feed for <c>GET /events</c>, as server-sent-event frames, each with an id, a type and JSON data:
/// <c>role</c> (this node's role in a group changed), <c>leader</c> (a group's leader is known and is another node than the
/// last one known here; <c>previous</c> names that one, 0 for none), <c>commit</c> (a
/// write applied here; sampled, at most <see cref="CommitsPerSecond"/> a second, each naming how many it stands for),
/// <c>rebalance</c>, <c>membership</c>, <c>group</c> (opened or closed here). Every subscriber has its own bounded
/// queue of <see cref="SubscriberCapacity"/> frames: a slow reader loses its oldest frames, never slows the node, and is
/// told how many with a <c>dropped</c> event. With no subscriber, publishing costs a volatile read.
/// </summary>
public sealed class KvEvents : IKeyApplied, IDisposable
{
    /// <summary>Frames queued per subscriber before the oldest are dropped.</summary>
    public const int SubscriberCapacity = 512;

    /// <summary>The most <c>commit</c> events a second from this node.</summary>
    public const int CommitsPerSecond = 10;

    private static readonly TimeSpan PingInterval = TimeSpan.FromSeconds(15);
    private static readonly long CommitSpacing = TimeProvider.System.TimestampFrequency / CommitsPerSecond;

    private readonly KvNode _node;
    private readonly Dictionary<long, (RaftRole Role, long Leader, long Term)> _seen = [];
    private readonly ITimer _ping;
    private volatile Subscriber[] _subscribers = [];
    private long _sequence;
    private long _nextCommitAt;
    private long _commitsSkipped;
    private bool _stopped;

    /// <summary>Listens to <paramref name="node"/>'s roles, placement and applies; ends every stream when the server stops.</summary>
    public KvEvents(KvNode node, IHostApplicationLifetime lifetime)
    {
        _node = node;
        node.Placement.Host.RoleChanged += OnRoleChanged;
        node.Placement.PlacementChanged += OnPlacementChanged;
        node.ObserveApplied(this);
        // One timer for every stream: a comment now and then lets a reader (and Kestrel) find a dead connection.
        _ping = TimeProvider.System.CreateTimer(_ => Broadcast(": ping\n\n"), null, PingInterval, PingInterval);
        lifetime.ApplicationStopping.Register(Stop);
    }

    /// <summary>Open streams.</summary>
    public int Subscribers => _subscribers.Length;

    /// <summary>A new subscriber's queue, starting with a <c>hello</c> event (the stream is live from there on).</summary>
    public Subscriber Subscribe()
    {
        var s = new Subscriber(this);
        lock (_seen)
        {
            if (_stopped) s.Complete();
            else _subscribers = [.. _subscribers, s];
        }
        s.Offer(Frame("hello", new { node = _node.Options.NodeId }));
        return s;
    }

    /// <inheritdoc />
    public void Applied(long groupId, string key, long index, long term, long version)
    {
        if (_subscribers.Length == 0) return;
        var now = TimeProvider.System.GetTimestamp();
        var next = Interlocked.Read(ref _nextCommitAt);
        if (now < next || Interlocked.CompareExchange(ref _nextCommitAt, now + CommitSpacing, next) != next)
        {
            Interlocked.Increment(ref _commitsSkipped);
            return;
        }
        var stands = Interlocked.Exchange(ref _commitsSkipped, 0) + 1;
        Publish("commit", new { group = groupId, key, index, term, version, sampledOf = stands });
    }

    private void OnRoleChanged(object? sender, RoleChangedEventArgs e)
    {
        // Tracked with no subscriber too, so the first subscriber's "previous" values are true.
        (RaftRole Role, long Leader, long Term) before;
        lock (_seen)
        {
            var known = _seen.TryGetValue(e.GroupId, out before);
            // Handlers run on the thread pool and may arrive out of order: an older term's news is not news.
            if (known && e.Term < before.Term) return;
            // The leader kept is the last one known: an election in between (leader 0) is no move of its own.
            _seen[e.GroupId] = (e.Role, e.Leader != 0 ? e.Leader : known ? before.Leader : 0, e.Term);
            if (!known) before = (RaftRole.Follower, 0, 0);
        }
        if (_subscribers.Length == 0) return;
        var key = KeyOf(e.GroupId);
        if (e.Role != before.Role)
            Publish("role", new { group = e.GroupId, key, role = e.Role.ToString(), previous = before.Role.ToString(), term = e.Term, leader = e.Leader });
        if (e.Leader != before.Leader && e.Leader != 0)
            Publish("leader", new { group = e.GroupId, key, leader = e.Leader, previous = before.Leader, term = e.Term });
    }

    private void OnPlacementChanged(object? sender, PlacementEventArgs e)
    {
        switch (e.Kind)
        {
            case "rebalanced": Publish("rebalance", new { transfers = int.TryParse(e.Detail, out var n) ? n : 0 }); break;
            case "members": Publish("membership", new { members = e.Detail?.Split(',').Select(long.Parse).ToArray() ?? [] }); break;
            default:
                if (e.Kind == "closed") lock (_seen) _seen.Remove(e.GroupId);
                Publish("group", new { group = e.GroupId, change = e.Kind, detail = e.Detail });
                break;
        }
    }

    private string KeyOf(long groupId) =>
        groupId == _node.Placement.Options.DirectoryGroupId ? "(directory)" : _node.Placement.Directory.FindGroup(groupId)?.Name ?? "";

    private void Publish(string type, object data)
    {
        if (_subscribers.Length == 0) return;
        Broadcast(Frame(type, data));
    }

    private string Frame(string type, object data)
    {
        var json = JsonSerializer.Serialize(new { type, node = _node.Options.NodeId, at = DateTimeOffset.UtcNow, data }, RaftStatusEndpoint.JsonOptions);
        return $"id: {Interlocked.Increment(ref _sequence)}\nevent: {type}\ndata: {json}\n\n";
    }

    private void Broadcast(string frame)
    {
        foreach (var s in _subscribers) s.Offer(frame);
    }

    private void Remove(Subscriber s)
    {
        lock (_seen) _subscribers = [.. _subscribers.Where(x => x != s)];
    }

    private void Stop()
    {
        Subscriber[] ending;
        lock (_seen)
        {
            _stopped = true;
            ending = _subscribers;
            _subscribers = [];
        }
        foreach (var s in ending) s.Complete();
    }

    public void Dispose()
    {
        _node.Placement.Host.RoleChanged -= OnRoleChanged;
        _node.Placement.PlacementChanged -= OnPlacementChanged;
        _ping.Dispose();
        Stop();
    }

    /// <summary>One stream's queue of frames. Dispose it when the stream ends.</summary>
    public sealed class Subscriber : IDisposable
    {
        private readonly KvEvents _events;
        private readonly Channel<string> _frames;
        private long _dropped;

        internal Subscriber(KvEvents events)
        {
            _events = events;
            _frames = Channel.CreateBounded<string>(new BoundedChannelOptions(SubscriberCapacity)
            {
                FullMode = BoundedChannelFullMode.DropOldest,
                SingleReader = true,
            }, _ => Interlocked.Increment(ref _dropped));
        }

        /// <summary>The frames, in order; completes when the server stops.</summary>
        public ChannelReader<string> Frames => _frames.Reader;

        /// <summary>Frames dropped since the last call (the reader was too slow).</summary>
        public long TakeDropped() => Interlocked.Exchange(ref _dropped, 0);

        internal void Offer(string frame) => _frames.Writer.TryWrite(frame);

        internal void Complete() => _frames.Writer.TryComplete();

        public void Dispose()
        {
            _events.Remove(this);
            Complete();
        }
    }
}
