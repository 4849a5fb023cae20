using Raft.Node;

namespace Raft.Queue.Server;

/// <summary>
/// One queue, the state machine of its group: messages in publish order, each waiting or in flight (delivered and
/// invisible until its deadline); a bounded window of recent idempotency keys; the dead messages on their way to the
/// dead-letter queue. Deterministic: time comes only from the commands (<see cref="QueueOp.Now"/>, kept monotonic
/// here), so every replica makes the same deliveries, expiries and receipts. Before each command, deliveries whose
/// deadline has passed end: the message waits again (its next delivery counts one more), or, having been delivered
/// <see cref="QueueSettings.MaxDeliveries"/> times, is dead.
/// </summary>
/// <param name="applied">Told after each command applied (called on the node loop: it must be quick); null for none.</param>
public sealed partial class QueueMachine(Action<QueueMachine>? applied = null) : IStateMachine<QueueOp, QueueReply>
{
    private sealed class Message(byte[] body)
    {
        public byte[] Body { get; } = body;
        /// <summary>How many times it was delivered.</summary>
        public int Deliveries { get; set; }
        /// <summary>While in flight: until when; 0 while waiting.</summary>
        public long Deadline { get; set; }
    }

    private readonly Dictionary<long, Message> _messages = [];
    // Waiting ids in order (a message whose delivery ended waits in its original place: it goes out first).
    private readonly SortedSet<long> _waiting = [];
    // In-flight deliveries by deadline, then id.
    private readonly SortedSet<(long Deadline, long Id)> _inFlight = [];
    // Recent idempotency keys and their first answers, oldest first in _keyOrder.
    private readonly Dictionary<string, QueueReply> _keys = new(StringComparer.Ordinal);
    private readonly Queue<string> _keyOrder = new();
    // Dead messages (id, body) waiting to be published to the dead-letter queue, in id order.
    private readonly SortedDictionary<long, byte[]> _dead = [];

    /// <summary>The queue's name (null until created).</summary>
    public string? Name { get; private set; }
    /// <summary>Its settings (null until created).</summary>
    public QueueSettings? Settings { get; private set; }
    /// <summary>The log index of its creation: with the name, it tells this queue from one of the same name before it.</summary>
    public long CreatedAt { get; private set; }
    /// <summary>The latest time any command carried (Unix milliseconds).</summary>
    public long Clock { get; private set; }
    /// <summary>The next message's id.</summary>
    public long NextId { get; private set; } = 1;
    /// <summary>Messages waiting to be delivered.</summary>
    public int Waiting => _waiting.Count;
    /// <summary>Messages delivered and not yet acked, nacked or expired.</summary>
    public int InFlight => _inFlight.Count;
    /// <summary>Messages dead and waiting to reach the dead-letter queue.</summary>
    public int DeadPending => _dead.Count;
    /// <summary>Messages that died in all (moved or to be moved to the dead-letter queue, or dropped without one).</summary>
    public long DeadTotal { get; private set; }
    /// <summary>Messages acked in all.</summary>
    public long AckedTotal { get; private set; }
    /// <summary>The earliest deadline in flight (Unix milliseconds); null when nothing is in flight.</summary>
    public long? NextDeadline => _inFlight.Count == 0 ? null : _inFlight.Min.Deadline;

    /// <summary>How many messages a receive at <paramref name="now"/> could deliver (waiting, plus in flight past their deadline).</summary>
    public int AvailableAt(long now) => _waiting.Count + _inFlight.Count(f => f.Deadline <= Math.Max(now, Clock));

    /// <summary>Whether delivery <paramref name="delivery"/> of message <paramref name="id"/> is over at <paramref name="now"/>
    /// as this copy has applied: acked, nacked, dead, delivered again, or past its deadline. A delivery this copy has not
    /// applied yet (a replica behind the leader that made it) is not over.</summary>
    public bool DeliveryOver(long id, int delivery, long now)
    {
        if (id >= NextId) return false;
        if (!_messages.TryGetValue(id, out var m)) return true;
        if (m.Deliveries != delivery) return m.Deliveries > delivery;
        return m.Deadline == 0 || m.Deadline <= Math.Max(now, Clock);
    }

    /// <summary>Whether a delivery past its deadline at <paramref name="now"/> was the message's last: the next command
    /// applied makes it dead (see <see cref="DeadLetterMover"/>, which applies one when nothing else comes).</summary>
    public bool DiesAt(long now) =>
        Settings is { MaxDeliveries: > 0 } s && _inFlight.TakeWhile(f => f.Deadline <= now).Any(f => _messages[f.Id].Deliveries >= s.MaxDeliveries);

    /// <summary>The dead messages waiting for the dead-letter queue, oldest first, at most <paramref name="max"/>.</summary>
    public IReadOnlyList<(long Id, byte[] Body)> DeadToForward(int max) => _dead.Take(max).Select(d => (d.Key, d.Value)).ToArray();

    /// <inheritdoc />
    public QueueReply Apply(long index, long term, QueueOp command)
    {
        var reply = ApplyOp(index, command);
        applied?.Invoke(this);
        return reply;
    }

    private QueueReply ApplyOp(long index, QueueOp command)
    {
        Clock = Math.Max(Clock, command.Now);
        if (command is CreateQueue create) return Create(index, create);
        if (Settings is null) return new(QueueStatus.NoSuchQueue);
        ExpireDue();
        return command switch
        {
            Publish p => PublishAll(p),
            Receive r => Deliver(r),
            Ack a => Finish(a.MessageId, a.Delivery, ack: true),
            Nack n => Finish(n.MessageId, n.Delivery, ack: false),
            DeadForwarded d => Forwarded(d.UpTo),
            _ => throw new InvalidOperationException($"Unknown queue command {command.GetType().Name}."),
        };
    }

    private QueueReply Create(long index, CreateQueue create)
    {
        if (Settings is not null) return new(Settings == create.Settings && Name == create.Name ? QueueStatus.Ok : QueueStatus.Exists);
        Name = create.Name;
        Settings = create.Settings;
        CreatedAt = index;
        return new(QueueStatus.Ok);
    }

    private QueueReply PublishAll(Publish p)
    {
        if (p.IdempotencyKey is { } key && _keys.TryGetValue(key, out var first)) return first with { Repeated = true };
        var s = Settings!;
        if (p.Bodies.FirstOrDefault(b => b.Length > s.MaxMessageBytes) is { } big) return new(QueueStatus.TooLarge, Count: big.Length, Limit: s.MaxMessageBytes);
        var length = _messages.Count;
        if (length + p.Bodies.Length > s.MaxLength) return new(QueueStatus.Full, Count: length, Limit: s.MaxLength);
        var reply = new QueueReply(QueueStatus.Ok, NextId, p.Bodies.Length);
        foreach (var body in p.Bodies)
        {
            _messages[NextId] = new Message(body);
            _waiting.Add(NextId++);
        }
        if (p.IdempotencyKey is { } remembered) Remember(remembered, reply, s.IdempotencyWindow);
        return reply;
    }

    private void Remember(string key, QueueReply reply, int window)
    {
        if (window == 0) return;
        _keys[key] = reply;
        _keyOrder.Enqueue(key);
        while (_keyOrder.Count > window) _keys.Remove(_keyOrder.Dequeue());
    }

    private QueueReply Deliver(Receive r)
    {
        var visibility = r.VisibilityMs > 0 ? r.VisibilityMs : Settings!.VisibilityTimeoutMs;
        var deadline = Clock + visibility;
        var delivered = new List<Delivered>();
        while (delivered.Count < r.Max && _waiting.Count > 0)
        {
            var id = _waiting.Min;
            _waiting.Remove(id);
            var m = _messages[id];
            m.Deliveries++;
            m.Deadline = deadline;
            _inFlight.Add((deadline, id));
            delivered.Add(new Delivered(id, m.Deliveries, m.Body, deadline));
        }
        return new(QueueStatus.Ok, Count: delivered.Count, Deliveries: [.. delivered]);
    }

    private QueueReply Finish(long id, int delivery, bool ack)
    {
        if (!_messages.TryGetValue(id, out var m)) return new(QueueStatus.ReceiptGone, id);
        if (m.Deadline == 0 || m.Deliveries != delivery) return new(QueueStatus.ReceiptExpired, id, m.Deliveries);
        _inFlight.Remove((m.Deadline, id));
        m.Deadline = 0;
        if (ack)
        {
            _messages.Remove(id);
            AckedTotal++;
        }
        else Returned(id, m);
        return new(QueueStatus.Ok, id);
    }

    /// <summary>Ends every delivery whose deadline has passed.</summary>
    private void ExpireDue()
    {
        while (_inFlight.Count > 0 && _inFlight.Min.Deadline <= Clock)
        {
            var (_, id) = _inFlight.Min;
            _inFlight.Remove(_inFlight.Min);
            var m = _messages[id];
            m.Deadline = 0;
            Returned(id, m);
        }
    }

    /// <summary>A message whose delivery ended without an ack: waits again, or is dead after its last delivery.</summary>
    private void Returned(long id, Message m)
    {
        var max = Settings!.MaxDeliveries;
        if (max == 0 || m.Deliveries < max)
        {
            _waiting.Add(id);
            return;
        }
        _messages.Remove(id);
        DeadTotal++;
        if (Settings.DeadLetterQueue is not null) _dead[id] = m.Body;
    }

    private QueueReply Forwarded(long upTo)
    {
        var done = _dead.Keys.TakeWhile(id => id <= upTo).ToArray();
        foreach (var id in done) _dead.Remove(id);
        return new(QueueStatus.Ok, Count: done.Length);
    }
}
