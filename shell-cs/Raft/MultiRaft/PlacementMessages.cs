using MessagePack;

namespace Raft.MultiRaft;

/// <summary>What a <see cref="PlacedCommand{TCommand}"/> asks of its group (wire values are stable).</summary>
public enum PlacedCommandKind : byte
{
    /// <summary>The user's command, for a data group's state machine.</summary>
    Data = 0,
    /// <summary>Directory: the group of a name, created when the name has none.</summary>
    Assign = 1,
    /// <summary>Directory: forget a name whose group was sealed (the group is then closed and deleted on every node).</summary>
    Release = 2,
    /// <summary>Directory: the cluster's first members, taken only while the directory has none.</summary>
    Seed = 3,
    /// <summary>Directory: add a member (or change its addresses).</summary>
    AddMember = 4,
    /// <summary>Directory: remove a member.</summary>
    RemoveMember = 5,
    /// <summary>Data group: refuse every later command, if no command applied after <see cref="PlacedCommand{TCommand}.Index"/>.</summary>
    Seal = 6,
    /// <summary>Directory: a data group's leader saw its committed voters equal the group's recorded members
    /// (<see cref="PlacedCommand{TCommand}.Voters"/>); members the group no longer has may then delete their copies.</summary>
    Confirm = 7,
}

/// <summary>A command of a multi-raft node: the user's command for a data group, or a placement command for the
/// directory or a data group. Serialized with the user's MessagePack options (which must resolve <typeparamref name="TCommand"/>).</summary>
[MessagePackObject]
public sealed class PlacedCommand<TCommand>
{
    /// <summary>What the command asks.</summary>
    [Key(0)] public PlacedCommandKind Kind { get; init; }
    /// <summary>The user's command (<see cref="PlacedCommandKind.Data"/>).</summary>
    [Key(1)] public TCommand? Data { get; init; }
    /// <summary>The name (<see cref="PlacedCommandKind.Assign"/>, <see cref="PlacedCommandKind.Release"/>).</summary>
    [Key(2)] public string? Name { get; init; }
    /// <summary>The group a release expects the name to have.</summary>
    [Key(3)] public long GroupId { get; init; }
    /// <summary>Members to seed or add.</summary>
    [Key(4)] public ClusterMember[]? Members { get; init; }
    /// <summary>The member to remove.</summary>
    [Key(5)] public long MemberId { get; init; }
    /// <summary>A seal's condition: the newest data index the sealing caller saw.</summary>
    [Key(6)] public long Index { get; init; }
    /// <summary>The cluster's initial members, taken before the command applies while the directory has no members
    /// (every directory command of an initial member carries them, so the first one to commit seeds the cluster).</summary>
    [Key(7)] public ClusterMember[]? Seed { get; init; }
    /// <summary>With <see cref="Seed"/>: the placement rules the seed fixes for the cluster's life, hashed group count
    /// (0: per-key placement; see <see cref="PlacementPolicy"/>).</summary>
    [Key(8)] public int SeedHashGroups { get; init; }
    /// <summary>With <see cref="Seed"/>: how many members replicate each data group (0: every member).</summary>
    [Key(9)] public int SeedReplicationFactor { get; init; }
    /// <summary>The voters a data group's leader saw committed (<see cref="PlacedCommandKind.Confirm"/>).</summary>
    [Key(10)] public long[]? Voters { get; init; }

    internal static PlacedCommand<TCommand> Of(TCommand command) => new() { Kind = PlacedCommandKind.Data, Data = command };
}

/// <summary>How a placed command ended (wire values are stable).</summary>
public enum PlacedOutcome : byte
{
    /// <summary>Applied.</summary>
    Ok = 0,
    /// <summary>The data group is sealed: its name was released or is being released; resolve the name again.</summary>
    Sealed = 1,
    /// <summary>The name (or member) is not in the directory, or not with the expected group.</summary>
    NotFound = 2,
    /// <summary>Refused: <see cref="PlacedResult{TResult}.Error"/> says why.</summary>
    Refused = 3,
}

/// <summary>What a placed command returned.</summary>
[MessagePackObject]
public sealed class PlacedResult<TResult>
{
    /// <summary>How it ended.</summary>
    [Key(0)] public PlacedOutcome Outcome { get; init; }
    /// <summary>The user's state machine's result (<see cref="PlacedOutcome.Ok"/> data commands).</summary>
    [Key(1)] public TResult? Data { get; init; }
    /// <summary>The placement an assign returned.</summary>
    [Key(2)] public GroupPlacement? Placement { get; init; }
    /// <summary>Why it was refused.</summary>
    [Key(3)] public string? Error { get; init; }

    internal static readonly PlacedResult<TResult> Done = new() { Outcome = PlacedOutcome.Ok };
    internal static readonly PlacedResult<TResult> IsSealed = new() { Outcome = PlacedOutcome.Sealed };
    internal static readonly PlacedResult<TResult> Missing = new() { Outcome = PlacedOutcome.NotFound };
    internal static PlacedResult<TResult> Refuse(string why) => new() { Outcome = PlacedOutcome.Refused, Error = why };
}

/// <summary>A node of the cluster as the directory knows it.</summary>
/// <param name="Id">The node id.</param>
/// <param name="RaftEndpoint">Its Raft transport endpoint (host:port).</param>
/// <param name="ApiUrl">Its client API (e.g. an HTTP base URL), or null.</param>
[MessagePackObject]
public sealed record ClusterMember([property: Key(0)] long Id, [property: Key(1)] string RaftEndpoint, [property: Key(2)] string? ApiUrl);

/// <summary>A name's group.</summary>
/// <param name="Name">The name (a key, a queue).</param>
/// <param name="GroupId">Its Raft group.</param>
/// <param name="InitialMembers">The members the group was created with (each creates it with these voters; a member
/// added later joins it instead).</param>
/// <param name="Members">The members that replicate the group now, the voters the reconciler keeps it at; null when
/// every member of the cluster replicates every group (no <see cref="MultiRaftOptions.ReplicationFactor"/>).</param>
/// <param name="Confirmed">The members the group's leader last saw committed as its voters; when they are
/// <paramref name="Members"/>, a node outside them knows the group is rid of it and deletes its copy (it may never hear
/// of its removal from the group itself: a leader stops sending to a node it removed).</param>
[MessagePackObject]
public sealed record GroupPlacement([property: Key(0)] string Name, [property: Key(1)] long GroupId, [property: Key(2)] long[] InitialMembers,
    [property: Key(3)] long[]? Members = null, [property: Key(4)] long[]? Confirmed = null)
{
    /// <summary>Whether the group's leader confirmed its recorded <see cref="Members"/> as its committed voters.</summary>
    [IgnoreMember] public bool MembersConfirmed => Members is { } members && Confirmed is { } confirmed && confirmed.AsSpan().SequenceEqual(members);

    /// <summary>Whether the group's committed voters are its recorded members and <paramref name="node"/> is not one
    /// of them: that node's copy is of no use to the group any more.</summary>
    public bool Retired(long node) => MembersConfirmed && !Members!.Contains(node);
}
