using Raft.Node;

namespace Raft.MultiRaft;

/// <summary>A data group's state machine holding many names (hash placement) that can list them; required of the
/// user's state machine for <see cref="MultiRaftNode{TCommand,TResult}.ListAsync"/> under hash placement.</summary>
public interface INamedKeys
{
    /// <summary>The names this state machine holds that start with <paramref name="prefix"/>, in ordinal order.
    /// Called on the node loop: enumerate what is there, no IO.</summary>
    IEnumerable<string> Names(string prefix);
}

/// <summary>What <see cref="MultiRaftNode{TCommand,TResult}.ListAsync"/> found on this node.</summary>
/// <param name="Names">Up to the limit asked of the names found, in ordinal order, each with its group.</param>
/// <param name="Elsewhere">Groups this node does not replicate (a replication factor below the member count, hash
/// placement): their names were not listed; ask a member of each
/// (<see cref="MultiRaftNode{TCommand,TResult}.ListGroupAsync"/> there) and merge.</param>
public sealed record NameListing(IReadOnlyList<GroupPlacement> Names, IReadOnlyList<GroupPlacement> Elsewhere);

/// <summary>This node does not replicate the group of <see cref="Name"/> (the replication factor is below the member
/// count), so it can neither propose into it nor read it: send the request to one of <see cref="Members"/>.</summary>
public sealed class NotPlacedHereException(string name, long groupId, long nodeId, IReadOnlyList<ClusterMember> members)
    : RaftException($"Node {nodeId} does not replicate group {groupId} of {name}; its members are {string.Join(", ", members.Select(m => m.Id))}")
{
    /// <summary>The name asked (or the group's name).</summary>
    public string Name { get; } = name;
    /// <summary>Its group.</summary>
    public long GroupId { get; } = groupId;
    /// <summary>The members replicating the group, with their addresses as the directory records them.</summary>
    public IReadOnlyList<ClusterMember> Members { get; } = members;
}
