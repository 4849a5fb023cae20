using MessagePack;

namespace Raft.KeyValue;

/// <summary>What applying a <see cref="KvCommand"/> returns to the node that proposed it.</summary>
/// <param name="Succeeded">Put: always; Delete: the key existed; CompareAndSwap: the value was swapped.</param>
/// <param name="Value">Put: the previous value; Delete: the removed value; CompareAndSwap: the value after the command
/// (the new one on success, the one that blocked the swap otherwise, so a caller can retry without a read). Null when absent.</param>
/// <remarks>A result travels from the leader to the follower that forwarded the command, so it is a MessagePack object
/// like the commands (the node refuses to start with forwarding on and a result type it cannot serialize).</remarks>
[MessagePackObject]
public sealed record KvResult([property: Key(0)] bool Succeeded, [property: Key(1)] string? Value);
