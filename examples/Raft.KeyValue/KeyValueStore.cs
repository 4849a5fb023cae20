using MessagePack;
using Raft.Node;

namespace Raft.KeyValue;

/// <summary>The replicated state: a dictionary of string keys to string values. Every node applies the same
/// committed <see cref="KvCommand"/>s in the same order, so every node holds the same dictionary.</summary>
/// <remarks>All methods, and the queries passed to <c>ReadAsync</c>, run on the node's loop thread one at a time,
/// so the dictionary needs no lock. Read it only through <c>ReadAsync</c>: reading it from another thread would race
/// with <see cref="Apply"/>.</remarks>
public sealed class KeyValueStore : IStateMachine<KvCommand, KvResult>
{
    private readonly Dictionary<string, string> _data = new(StringComparer.Ordinal);

    /// <summary>The number of keys.</summary>
    public int Count => _data.Count;

    /// <summary>The value of <paramref name="key"/>, or null if absent.</summary>
    public string? Get(string key) => _data.GetValueOrDefault(key);

    /// <summary>A copy of every entry, sorted by key (a copy, because the query's result leaves the loop thread).</summary>
    public KeyValuePair<string, string>[] Entries() => _data.OrderBy(e => e.Key, StringComparer.Ordinal).ToArray();

    /// <inheritdoc/>
    public KvResult Apply(long index, long term, KvCommand command) => command switch
    {
        Put p => ApplyPut(p),
        Delete d => _data.Remove(d.Key, out var removed) ? new KvResult(true, removed) : new KvResult(false, null),
        CompareAndSwap c => ApplyCompareAndSwap(c),
        // Deterministic on every node, so throwing is safe: the proposer gets a StateMachineException, nobody diverges.
        _ => throw new ArgumentOutOfRangeException(nameof(command), command, "Unknown key-value command."),
    };

    private KvResult ApplyPut(Put p)
    {
        _data.TryGetValue(p.Key, out var previous);
        _data[p.Key] = p.Value;
        return new KvResult(true, previous);
    }

    private KvResult ApplyCompareAndSwap(CompareAndSwap c)
    {
        var current = _data.GetValueOrDefault(c.Key);
        if (!string.Equals(current, c.Expected, StringComparison.Ordinal)) return new KvResult(false, current);
        _data[c.Key] = c.Value;
        return new KvResult(true, c.Value);
    }

    /// <summary>Writes the whole dictionary as one MessagePack map. The node writes this when it compacts its log,
    /// and sends it to followers too far behind for the log.</summary>
    public void Snapshot(Stream output) => MessagePackSerializer.Serialize(output, _data);

    /// <summary>Replaces the dictionary with a snapshot's (on restart, or when the leader installs one).</summary>
    public void Restore(Stream input)
    {
        var data = MessagePackSerializer.Deserialize<Dictionary<string, string>>(input);
        // Replace, never merge: keys deleted before the snapshot must not survive from the old state.
        _data.Clear();
        foreach (var (k, v) in data) _data[k] = v;
    }
}
