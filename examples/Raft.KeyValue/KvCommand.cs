using MessagePack;

namespace Raft.KeyValue;

/// <summary>A change to the store. Commands travel in the Raft log and over the network, so they are MessagePack
/// objects; the <see cref="UnionAttribute"/> tags let one log hold every kind (the tag is written, not the CLR type
/// name, so renaming a class does not break logs already on disk — renumbering a tag would).</summary>
[Union(0, typeof(Put))]
[Union(1, typeof(Delete))]
[Union(2, typeof(CompareAndSwap))]
public abstract record KvCommand;

/// <summary>Sets <paramref name="Key"/> to <paramref name="Value"/>. Result: succeeded, with the previous value (null if none).</summary>
[MessagePackObject]
public sealed record Put([property: Key(0)] string Key, [property: Key(1)] string Value) : KvCommand;

/// <summary>Removes <paramref name="Key"/>. Result: succeeded if it existed, with the value it had.</summary>
[MessagePackObject]
public sealed record Delete([property: Key(0)] string Key) : KvCommand;

/// <summary>Sets <paramref name="Key"/> to <paramref name="Value"/> only if its current value is <paramref name="Expected"/>
/// (null: only if the key is absent). Result: succeeded or not, with the value the key holds afterwards.</summary>
/// <remarks>The comparison happens when the command is applied, at its place in the log, so two clients racing to
/// swap the same old value cannot both win: that is what makes CAS a building block for locks and counters.</remarks>
[MessagePackObject]
public sealed record CompareAndSwap([property: Key(0)] string Key, [property: Key(1)] string? Expected, [property: Key(2)] string Value) : KvCommand;
