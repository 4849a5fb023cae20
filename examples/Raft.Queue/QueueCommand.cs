using MessagePack;

namespace Raft.Queue;

/// <summary>A change to the queue, sent by one client session.</summary>
/// <param name="ClientId">The sending client, e.g. "consumer-2". Each client has at most one command outstanding.</param>
/// <param name="Sequence">The client's request number: 1, 2, 3, ... A retry of the same request reuses its number.</param>
/// <remarks>
/// Why sessions: a proposal that times out may still commit, so a client must retry it, and a retried Dequeue that
/// had in fact committed would take a second item and lose the first. <see cref="WorkQueue"/> remembers, per client,
/// the last sequence number it applied and that command's result, and answers a retry with the remembered result
/// instead of applying it again (the client sessions of Ongaro's thesis, §6.3). That turns "at least once" retries
/// into exactly-once effects.
/// The <see cref="UnionAttribute"/> tags let one log hold every command kind; they are written to disk, so never renumber them.
/// </remarks>
[Union(0, typeof(Enqueue))]
[Union(1, typeof(Dequeue))]
public abstract record QueueCommand([property: Key(0)] string ClientId, [property: Key(1)] long Sequence);

/// <summary>Appends <paramref name="Payload"/> at the tail. Result: the stored item (its id is the command's log index).</summary>
[MessagePackObject]
public sealed record Enqueue(string ClientId, long Sequence, [property: Key(2)] string Payload) : QueueCommand(ClientId, Sequence);

/// <summary>Removes the item at the head. Result: that item, or none when the queue is empty.</summary>
[MessagePackObject]
public sealed record Dequeue(string ClientId, long Sequence) : QueueCommand(ClientId, Sequence);
