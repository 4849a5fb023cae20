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
        if (_members.Count == 0 && c.Kind != PlacedCommandKind.Seed)
            foreach (var m in c.Seed ?? []) _members[m.Id] = m;
        switch (c.Kind)
        {
            case PlacedCommandKind.Seed:
                if (_members.Count > 0) return PlacedResult<TResult>.Refuse("the directory already has members");
                foreach (var m in c.Members ?? []) _members[m.Id] = m;
                return PlacedResult<TResult>.Done;
            case PlacedCommandKind.AddMember:
                foreach (var m in c.Members ?? []) _members[m.Id] = m;
                return PlacedResult<TResult>.Done;
            case PlacedCommandKind.RemoveMember:
                if (!_members.ContainsKey(c.MemberId)) return PlacedResult<TResult>.Missing;
                if (_members.Count == 1) return PlacedResult<TResult>.Refuse($"node {c.MemberId} is the cluster's last member");
                _members.Remove(c.MemberId);
                return PlacedResult<TResult>.Done;
            case PlacedCommandKind.Assign:
                if (c.Name is null) return PlacedResult<TResult>.Refuse("an assign names no name");
                if (_names.TryGetValue(c.Name, out var existing)) return new() { Outcome = PlacedOutcome.Ok, Placement = existing };
                if (_members.Count == 0) return PlacedResult<TResult>.Refuse("the cluster has no members yet (its directory is not seeded)");
                var placement = new GroupPlacement(c.Name, _nextGroupId++, _members.Keys.ToArray());
                _names[c.Name] = placement;
                _groups[placement.GroupId] = placement;
                return new() { Outcome = PlacedOutcome.Ok, Placement = placement };
            case PlacedCommandKind.Release:
                if (c.Name is null || !_names.TryGetValue(c.Name, out var held) || held.GroupId != c.GroupId) return PlacedResult<TResult>.Missing;
                _names.Remove(c.Name);
                _groups.Remove(held.GroupId);
                return PlacedResult<TResult>.Done;
            default:
                return PlacedResult<TResult>.Refuse($"the directory group takes no {c.Kind} commands");
        }
    }

    public void Snapshot(Stream output)
    {
        DirectoryImage image;
        lock (_gate) image = new DirectoryImage(_names.Values.ToArray(), _members.Values.ToArray(), _nextGroupId);
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
        }
        Changed?.Invoke();
    }

    // ---- IDirectoryView (any thread) -----------------------------------------------------------------------------

    public GroupPlacement? Find(string name)
    {
        lock (_gate) return _names.GetValueOrDefault(name);
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

    public int Count
    {
        get { lock (_gate) return _names.Count; }
    }
}

/// <summary>The directory in a snapshot.</summary>
[MessagePackObject]
public sealed record DirectoryImage([property: Key(0)] GroupPlacement[] Names, [property: Key(1)] ClusterMember[] Members, [property: Key(2)] long NextGroupId);

/// <summary>This node's copy of the directory, as applied so far (it may trail the directory's leader).</summary>
public interface IDirectoryView
{
    /// <summary>The group of <paramref name="name"/>, or null.</summary>
    GroupPlacement? Find(string name);
    /// <summary>The placement of a group, or null.</summary>
    GroupPlacement? FindGroup(long groupId);
    /// <summary>Up to <paramref name="limit"/> names starting with <paramref name="prefix"/>, in ordinal order.</summary>
    IReadOnlyList<GroupPlacement> List(string prefix, int limit);
    /// <summary>Every name's placement.</summary>
    IReadOnlyList<GroupPlacement> Placements();
    /// <summary>The cluster's members, by id.</summary>
    IReadOnlyList<ClusterMember> Members();
    /// <summary>How many names the directory holds.</summary>
    int Count { get; }
}
