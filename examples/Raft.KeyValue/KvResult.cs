namespace Raft.KeyValue;

/// <summary>What applying a <see cref="KvCommand"/> returns to the node that proposed it.</summary>
/// <param name="Succeeded">Put: always; Delete: the key existed; CompareAndSwap: the value was swapped.</param>
/// <param name="Value">Put: the previous value; Delete: the removed value; CompareAndSwap: the value after the command
/// (the new one on success, the one that blocked the swap otherwise, so a caller can retry without a read). Null when absent.</param>
/// <remarks>Results stay on the proposing node (they are never serialized), so this needs no MessagePack attributes.</remarks>
public sealed record KvResult(bool Succeeded, string? Value);
