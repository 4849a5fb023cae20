using MessagePack;
using Raft.Node;

namespace Raft.MultiRaft;

/// <summary>
/// The directory group's state machine: which group holds each name, and the cluster's members with their addresses.
/// Applied on the loop thread like any state machine; the placement layer reads it from other threads through
/// <see cref="IDirectoryView"/> (under a lock, never the loop's), and hears of every change through <see cref="Changed"/>.
/// </summary>
internal sealed class DirectoryStateMachine<TCommand, TResult> : IStateMachine<PlacedCommand<TCommand>, PlacedResult<TResult>>, IDirectoryView
{
    private readonly object _gate = new();
    private readonly SortedDictionary<string, GroupPlacement> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<long, GroupPlacement> _groups = new();
    private readonly SortedDictionary<long, ClusterMember> _members = new();
    private long _nextGroupId;
    private readonly long _firstGroupId;
    // The rules the seed fixed (0 and 0 until then, and for a directory from before they existed): hashed group count
    // (0: per-key) and replication factor (0: every member).
    private int _hashGroups;
    private int _replication;

    /// <param name="firstGroupId">The id the first data group gets (ids below it are the application's).</param>
    public DirectoryStateMachine(long firstGroupId)
    {
        _firstGroupId = firstGroupId;
        _nextGroupId = firstGroupId;
    }

    /// <summary>Raised on the loop thread after each change (kept short: it only wakes the reconciler).</summary>
    public Action? Changed { get; set; }

    public PlacedResult<TResult> Apply(long index, long term, PlacedCommand<TCommand> command)
    {
        PlacedResult<TResult> result;
        lock (_gate) result = ApplyLocked(command);
        if (result.Outcome == PlacedOutcome.Ok) Changed?.Invoke();
        return result;
    }

    private PlacedResult<TResult> ApplyLocked(PlacedCommand<TCommand> c)
    {
        if (_members.Count == 0 && c.Kind != PlacedCommandKind.Seed && c.Seed is { Length: > 0 } seed) SeedLocked(seed, c);
        switch (c.Kind)
        {
            case PlacedCommandKind.Seed:
                if (_members.Count > 0) return PlacedResult<TResult>.Refuse("the directory already has members");
                SeedLocked(c.Members ?? [], c);
                return PlacedResult<TResult>.Done;
            case PlacedCommandKind.AddMember:
                foreach (var m in c.Members ?? []) _members[m.Id] = m;
                RepairLocked();
                return PlacedResult<TResult>.Done;
            case PlacedCommandKind.RemoveMember:
                if (!_members.ContainsKey(c.MemberId)) return PlacedResult<TResult>.Missing;
                if (_members.Count == 1) return PlacedResult<TResult>.Refuse($"node {c.MemberId} is the cluster's last member");
                _members.Remove(c.MemberId);
                RepairLocked();
                return PlacedResult<TResult>.Done;
            case PlacedCommandKind.Assign:
                if (c.Name is null) return PlacedResult<TResult>.Refuse("an assign names no name");
                if (FindLocked(c.Name) is { } existing) return new() { Outcome = PlacedOutcome.Ok, Placement = existing };
                if (_members.Count == 0) return PlacedResult<TResult>.Refuse("the cluster has no members yet (its directory is not seeded)");
                return new() { Outcome = PlacedOutcome.Ok, Placement = PlaceLocked(c.Name) };
            case PlacedCommandKind.Release:
                if (_hashGroups > 0) return PlacedResult<TResult>.Refuse("hashed groups are shared by many names and never released");
                if (c.Name is null || !_names.TryGetValue(c.Name, out var held) || held.GroupId != c.GroupId) return PlacedResult<TResult>.Missing;
                _names.Remove(c.Name);
                _groups.Remove(held.GroupId);
                return PlacedResult<TResult>.Done;
            case PlacedCommandKind.Confirm:
                if (!_groups.TryGetValue(c.GroupId, out var placed)) return PlacedResult<TResult>.Missing;
                if (placed.Members is not { } recorded || c.Voters is not { } voters || !voters.Order().SequenceEqual(recorded))
                    return PlacedResult<TResult>.Refuse($"group {c.GroupId}'s recorded members changed since");
                var confirmed = placed with { Confirmed = recorded };
                _names[placed.Name] = confirmed;
                _groups[placed.GroupId] = confirmed;
                return PlacedResult<TResult>.Done;
            default:
                return PlacedResult<TResult>.Refuse($"the directory group takes no {c.Kind} commands");
        }
    }

    /// <summary>The cluster forms: its first members and the placement rules the seeding command carries; under hash
    /// placement every group is created now, so no later write ever waits for a directory entry.</summary>
    private void SeedLocked(ClusterMember[] members, PlacedCommand<TCommand> c)
    {
        foreach (var m in members) _members[m.Id] = m;
        _hashGroups = c.SeedHashGroups;
        _replication = c.SeedReplicationFactor;
        var load = GroupAssignment.Load(_members.Keys, _groups.Values);
        for (var slot = 0; slot < _hashGroups; slot++) PlaceLocked(PlacementPolicy.SlotName(slot), load);
    }

    /// <summary>A new group for <paramref name="name"/>, on every member or on the least loaded
    /// <see cref="_replication"/> of them (<paramref name="load"/>: the members' group counts, when the caller keeps
    /// them across many placements; counted here otherwise, a pass over the groups per new name).</summary>
    private GroupPlacement PlaceLocked(string name, Dictionary<long, int>? load = null)
    {
        var members = _replication > 0 ? GroupAssignment.Choose(_replication, load ?? GroupAssignment.Load(_members.Keys, _groups.Values)) : null;
        var placement = new GroupPlacement(name, _nextGroupId++, members ?? _members.Keys.ToArray(), members);
        _names[name] = placement;
        _groups[placement.GroupId] = placement;
        return placement;
    }

    /// <summary>After a membership change: departed members' groups get replacements and replicas move until the
    /// members hold within one group of each other (no-op when every member replicates every group; the reconciler then
    /// follows the member list itself).</summary>
    private void RepairLocked()
    {
        if (_replication == 0) return;
        foreach (var p in GroupAssignment.Repair(_replication, _members.Keys, _groups.Values))
        {
            _names[p.Name] = p;
            _groups[p.GroupId] = p;
        }
    }

    private GroupPlacement? FindLocked(string name) =>
        _hashGroups > 0 ? _names.GetValueOrDefault(PlacementPolicy.SlotName(PlacementPolicy.Slot(name, _hashGroups))) : _names.GetValueOrDefault(name);

    public void Snapshot(Stream output)
    {
        DirectoryImage image;
        lock (_gate) image = new DirectoryImage(_names.Values.ToArray(), _members.Values.ToArray(), _nextGroupId, _hashGroups, _replication);
        MessagePackSerializer.Serialize(output, image, MessagePackSerializerOptions.Standard);
    }

    public void Restore(Stream input)
    {
        var image = MessagePackSerializer.Deserialize<DirectoryImage>(input, MessagePackSerializerOptions.Standard.WithSecurity(MessagePackSecurity.UntrustedData));
        lock (_gate)
        {
            _names.Clear();
            _groups.Clear();
            _members.Clear();
            foreach (var p in image.Names) { _names[p.Name] = p; _groups[p.GroupId] = p; }
            foreach (var m in image.Members) _members[m.Id] = m;
            _nextGroupId = Math.Max(image.NextGroupId, _firstGroupId);
            _hashGroups = image.HashGroups;
            _replication = image.ReplicationFactor;
        }
        Changed?.Invoke();
    }

    // ---- IDirectoryView (any thread) -----------------------------------------------------------------------------

    public GroupPlacement? Find(string name)
    {
        lock (_gate) return FindLocked(name);
    }

    public GroupPlacement? FindGroup(long groupId)
    {
        lock (_gate) return _groups.GetValueOrDefault(groupId);
    }

    public IReadOnlyList<GroupPlacement> List(string prefix, int limit)
    {
        var found = new List<GroupPlacement>();
        lock (_gate)
        {
            // Hashed names are not recorded here: their groups' state machines list them (MultiRaftNode.ListAsync).
            if (_hashGroups > 0) return found;
            // Ordinal order: the names with the prefix form one run; a linear scan is fine at directory sizes of thousands.
            foreach (var (name, p) in _names)
            {
                if (found.Count >= limit) break;
                var c = string.CompareOrdinal(name, 0, prefix, 0, prefix.Length);
                if (c < 0) continue;
                if (c > 0) break;
                found.Add(p);
            }
        }
        return found;
    }

    public IReadOnlyList<GroupPlacement> Placements()
    {
        lock (_gate) return _groups.Values.ToArray();
    }

    public IReadOnlyList<ClusterMember> Members()
    {
        lock (_gate) return _members.Values.ToArray();
    }

    public IReadOnlyList<long> MembersOf(GroupPlacement placement)
    {
        if (placement.Members is { } members) return members;
        lock (_gate) return _members.Keys.ToArray();
    }

    public PlacementPolicy Policy
    {
        get { lock (_gate) return _hashGroups > 0 ? PlacementPolicy.Hash(_hashGroups) : PlacementPolicy.PerKey; }
    }

    public int ReplicationFactor
    {
        get { lock (_gate) return _replication; }
    }

    public int Count
    {
        get { lock (_gate) return _names.Count; }
    }

    public long NextGroupId
    {
        get { lock (_gate) return _nextGroupId; }
    }
}

/// <summary>The directory in a snapshot.</summary>
[MessagePackObject]
public sealed record DirectoryImage([property: Key(0)] GroupPlacement[] Names, [property: Key(1)] ClusterMember[] Members, [property: Key(2)] long NextGroupId,
    [property: Key(3)] int HashGroups = 0, [property: Key(4)] int ReplicationFactor = 0);

/// <summary>This node's copy of the directory, as applied so far (it may trail the directory's leader).</summary>
public interface IDirectoryView
{
    /// <summary>The group of <paramref name="name"/>, or null (under hash placement, once seeded, the group its hash
    /// picks, whose <see cref="GroupPlacement.Name"/> is the group's: <see cref="PlacementPolicy.SlotName"/>).</summary>
    GroupPlacement? Find(string name);
    /// <summary>The placement of a group, or null.</summary>
    GroupPlacement? FindGroup(long groupId);
    /// <summary>Up to <paramref name="limit"/> names starting with <paramref name="prefix"/>, in ordinal order (none under
    /// hash placement, where names are not recorded: see <see cref="MultiRaftNode{TCommand,TResult}.ListAsync"/>).</summary>
    IReadOnlyList<GroupPlacement> List(string prefix, int limit);
    /// <summary>Every group's placement.</summary>
    IReadOnlyList<GroupPlacement> Placements();
    /// <summary>The cluster's members, by id.</summary>
    IReadOnlyList<ClusterMember> Members();
    /// <summary>The members replicating a group: its recorded members, or every member when every member replicates every group.</summary>
    IReadOnlyList<long> MembersOf(GroupPlacement placement);
    /// <summary>The placement policy the cluster was seeded with.</summary>
    PlacementPolicy Policy { get; }
    /// <summary>The replication factor the cluster was seeded with (0: every member).</summary>
    int ReplicationFactor { get; }
    /// <summary>How many names the directory holds (under hash placement: its groups).</summary>
    int Count { get; }
    /// <summary>The id the next group placed will get: every data group id below it was placed once, so one of them the
    /// directory no longer holds was released.</summary>
    long NextGroupId { get; }
}
