using MessagePack;

namespace Raft.KeyValue.Server;

/// <summary>A write of one key, to its group (the key's own under per-key placement, one shared by many keys under hash placement).</summary>
/// <param name="Delete">True to delete, false to put <paramref name="Value"/>.</param>
/// <param name="Value">The new value (any bytes).</param>
/// <param name="IfVersion">Compare-and-set: applies only when the key's version is this (0: only when absent); -1: always.</param>
/// <param name="Key">The key written.</param>
[MessagePackObject]
public sealed record KvWrite([property: Key(0)] bool Delete, [property: Key(1)] byte[]? Value, [property: Key(2)] long IfVersion = -1,
    [property: Key(3)] string? Key = null);

/// <summary>How a write ended (wire values are stable).</summary>
public enum KvStatus : byte { Ok = 0, VersionMismatch = 1, NotFound = 2 }

/// <summary>What a write returned: its status and the key's version afterwards (0 when absent).</summary>
[MessagePackObject]
public sealed record KvWriteResult([property: Key(0)] KvStatus Status, [property: Key(1)] long Version);
