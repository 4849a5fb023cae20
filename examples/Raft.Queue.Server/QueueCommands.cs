using MessagePack;

namespace Raft.Queue.Server;

/// <summary>A command to one queue's group. Every command that depends on time carries the proposer's clock
/// (<see cref="Now"/>, Unix milliseconds): the machine never reads a clock, so every replica applies it alike.</summary>
[Union(0, typeof(CreateQueue))]
[Union(1, typeof(Publish))]
[Union(2, typeof(Receive))]
[Union(3, typeof(Ack))]
[Union(4, typeof(Nack))]
[Union(5, typeof(DeadForwarded))]
public abstract record QueueOp
{
    /// <summary>The proposer's clock, Unix milliseconds; expiries due by then happen before the command.</summary>
    // Key 15, after every case's own keys: MessagePack matches a record's constructor parameters to keys 0, 1, ...
    [Key(15)] public long Now { get; init; }
}

/// <summary>Creates the queue (again with the same settings: nothing changes).</summary>
[MessagePackObject]
public sealed record CreateQueue([property: Key(0)] string Name, [property: Key(1)] QueueSettings Settings) : QueueOp;

/// <summary>Appends messages, all or none; with an <see cref="IdempotencyKey"/> remembered, nothing (the first
/// publish's answer again).</summary>
[MessagePackObject]
public sealed record Publish([property: Key(0)] byte[][] Bodies, [property: Key(1)] string? IdempotencyKey) : QueueOp;

/// <summary>Delivers up to <see cref="Max"/> waiting messages, invisible until <c>Now + VisibilityMs</c>.</summary>
[MessagePackObject]
public sealed record Receive([property: Key(0)] int Max, [property: Key(1)] long VisibilityMs) : QueueOp;

/// <summary>Removes the message of a delivery (its receipt's message id and delivery count).</summary>
[MessagePackObject]
public sealed record Ack([property: Key(0)] long MessageId, [property: Key(1)] int Delivery) : QueueOp;

/// <summary>Returns the message of a delivery to the queue at once (or to the dead-letter queue when it reached its
/// max deliveries).</summary>
[MessagePackObject]
public sealed record Nack([property: Key(0)] long MessageId, [property: Key(1)] int Delivery) : QueueOp;

/// <summary>The dead messages up to <see cref="UpTo"/> (by id) reached the dead-letter queue: forget them here.</summary>
[MessagePackObject]
public sealed record DeadForwarded([property: Key(0)] long UpTo) : QueueOp;

/// <summary>How a command ended (wire values are stable).</summary>
public enum QueueStatus : byte
{
    Ok = 0,
    /// <summary>The group holds no queue (never created here, or a group made by a racing publish).</summary>
    NoSuchQueue = 1,
    /// <summary>Create: the queue exists with other settings.</summary>
    Exists = 2,
    /// <summary>Publish: the messages would take the queue over its max length.</summary>
    Full = 3,
    /// <summary>Publish: a message is over the queue's max message size.</summary>
    TooLarge = 4,
    /// <summary>Ack or nack: the receipt names a delivery that is over (expired or redelivered); the message is not done.</summary>
    ReceiptExpired = 5,
    /// <summary>Ack or nack: the receipt's message is gone (acked, or dead).</summary>
    ReceiptGone = 6,
}

/// <summary>One delivered message.</summary>
/// <param name="Id">The message's id in its queue (1, 2, ... in publish order).</param>
/// <param name="Delivery">Which delivery of it this is (1 for the first).</param>
/// <param name="Body">The message.</param>
/// <param name="Deadline">Until when (Unix milliseconds) it stays invisible and the receipt is valid.</param>
[MessagePackObject]
public sealed record Delivered([property: Key(0)] long Id, [property: Key(1)] int Delivery, [property: Key(2)] byte[] Body, [property: Key(3)] long Deadline)
{
    /// <summary>The receipt that acks or nacks this delivery: <c>id.delivery</c>.</summary>
    [IgnoreMember] public string Receipt => $"{Id}.{Delivery}";
}

/// <summary>What a command returned.</summary>
/// <param name="Status">How it ended.</param>
/// <param name="FirstId">Publish: the id of the first message (the rest follow in order).</param>
/// <param name="Count">Publish: how many; Full: the queue's length now.</param>
/// <param name="Limit">Full, TooLarge: the limit that refused it.</param>
/// <param name="Deliveries">Receive: the messages delivered.</param>
/// <param name="Repeated">Publish: an earlier publish with the same idempotency key answered this.</param>
[MessagePackObject]
public sealed record QueueReply([property: Key(0)] QueueStatus Status, [property: Key(1)] long FirstId = 0, [property: Key(2)] int Count = 0,
    [property: Key(3)] long Limit = 0, [property: Key(4)] Delivered[]? Deliveries = null, [property: Key(5)] bool Repeated = false);
