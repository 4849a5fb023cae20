namespace Raft.KeyValue.Server;

/// <summary>Told when a key's group applies a write on this node. Called on the node loop, between entries: it must
/// be quick and never block (look up, signal, hand over; no IO).</summary>
public interface IKeyApplied
{
    /// <summary>Group <paramref name="groupId"/> applied the entry at <paramref name="index"/> (of
    /// <paramref name="term"/>; 0 for a restored snapshot), a write of <paramref name="key"/>, now at
    /// <paramref name="version"/> (0: absent).</summary>
    void Applied(long groupId, string key, long index, long term, long version);
}

/// <summary>Forwards each apply to every observer added (the long-poll watch and the event feed).</summary>
internal sealed class KeyAppliedFanout : IKeyApplied
{
    // Copied on add, read without a lock on the node loop.
    private volatile IKeyApplied[] _observers = [];

    public void Add(IKeyApplied observer)
    {
        lock (this) _observers = [.. _observers, observer];
    }

    public void Applied(long groupId, string key, long index, long term, long version)
    {
        foreach (var o in _observers) o.Applied(groupId, key, index, term, version);
    }
}
