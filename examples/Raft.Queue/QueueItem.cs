using MessagePack;

namespace Raft.Queue;

/// <summary>An item in the queue.</summary>
/// <param name="Id">The log index of the <see cref="Enqueue"/> that stored it: unique, the same on every node, and
/// increasing in queue order, so consumers can check the order they received items in.</param>
/// <param name="Payload">What the producer enqueued.</param>
[MessagePackObject]
public sealed record QueueItem([property: Key(0)] long Id, [property: Key(1)] string Payload);

/// <summary>What applying a <see cref="QueueCommand"/> returns to the node that proposed it.</summary>
/// <param name="Item">Enqueue: the stored item. Dequeue: the removed item, or null when the queue was empty.</param>
/// <param name="Length">The queue's length after the command.</param>
/// <param name="AppliedAt">The log index where the command took effect. For a retry answered from the session it is the
/// first attempt's index (the retry's own index is in <c>ProposeResult.Index</c>), so sorting Dequeues by it gives the
/// order the queue handed items out in.</param>
/// <remarks>A MessagePack object: a follower that forwards a command to the leader receives its result over the network.</remarks>
[MessagePackObject]
public sealed record QueueResult([property: Key(0)] QueueItem? Item, [property: Key(1)] int Length, [property: Key(2)] long AppliedAt);
