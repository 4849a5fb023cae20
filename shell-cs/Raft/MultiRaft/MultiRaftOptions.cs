namespace Raft.MultiRaft;

/// <summary>Settings of the placement layer (<see cref="MultiRaftNode{TCommand,TResult}"/>).</summary>
public sealed class MultiRaftOptions
{
    /// <summary>The directory group's id (mapping names to groups; every member runs it).</summary>
    public long DirectoryGroupId { get; set; } = 0;

    /// <summary>The first id given to a data group; ids between the directory's and this one are left to the application.</summary>
    public long FirstDataGroupId { get; set; } = 1;

    /// <summary>The cluster's members when it first forms, this node included when it is one of them (the same list on
    /// every first member). A node not in the list joins an existing cluster: it waits to be added with
    /// <see cref="MultiRaftNode{TCommand,TResult}.AddMemberAsync"/> on a member.</summary>
    public List<ClusterMember> InitialMembers { get; set; } = [];

    /// <summary>Start as a node joining an existing cluster even when listed in <see cref="InitialMembers"/>: the
    /// directory group is joined (no configuration of its own, never seeding) and waits for a member's entries or
    /// snapshot. What a node whose data was wiped must do (a reset): bootstrapping again from the initial members would
    /// let it vote with a forgotten log.</summary>
    public bool Join { get; set; }

    /// <summary>How names map to groups: <see cref="PlacementPolicy.PerKey"/> (the default) or
    /// <see cref="PlacementPolicy.Hash"/>. Fixed when the cluster forms: the directory records the first member's
    /// policy and every node follows the recorded one.</summary>
    public PlacementPolicy Placement { get; set; } = PlacementPolicy.PerKey;

    /// <summary>How many members replicate each data group; 0 (the default) for every member. Below the member count,
    /// each group gets that many members, spread evenly and recorded in the directory, and a departed member's groups
    /// get replacements. Fixed when the cluster forms, like <see cref="Placement"/>; the directory group itself is
    /// always on every member.</summary>
    public int ReplicationFactor { get; set; }

    /// <summary>How often the reconciler checks this node's groups against the directory (membership changes that
    /// failed are retried then). A pass that finds no group here changed since a pass with nothing to do skips the
    /// walk over the groups, so idle groups cost nothing; a directory change wakes it at once.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The most membership changes one reconcile pass starts (a node added to 10,000 groups is added in steps of this many).</summary>
    public int MaxConfChangesPerPass { get; set; } = 64;

    /// <summary>Whether the leader balancer runs continuously (it can always be run on demand).</summary>
    public bool Balance { get; set; } = true;

    /// <summary>How often the balancer looks at the spread of leaderships.</summary>
    public TimeSpan BalanceInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long after start the balancer waits (elections settle, restarted members catch up).</summary>
    public TimeSpan BalanceSettle { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The most leadership transfers this node starts per balancer round (the rate limit).</summary>
    public int MaxTransfersPerRound { get; set; } = 32;

    /// <summary>How long a graceful stop spends handing this node's leaderships to other members before it stops anyway.</summary>
    public TimeSpan HandOffTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>What is wrong with these settings, each naming its key; empty when valid.</summary>
    public IReadOnlyList<string> Validate(string section = "Placement")
    {
        var errors = new List<string>();
        if (DirectoryGroupId < 0) errors.Add($"{section}:DirectoryGroupId must not be negative (is {DirectoryGroupId})");
        if (FirstDataGroupId <= DirectoryGroupId) errors.Add($"{section}:FirstDataGroupId must be above DirectoryGroupId (is {FirstDataGroupId})");
        if (ReconcileInterval <= TimeSpan.Zero) errors.Add($"{section}:ReconcileInterval must be positive (is {ReconcileInterval})");
        if (MaxConfChangesPerPass < 1) errors.Add($"{section}:MaxConfChangesPerPass must be at least 1 (is {MaxConfChangesPerPass})");
        if (BalanceInterval <= TimeSpan.Zero) errors.Add($"{section}:BalanceInterval must be positive (is {BalanceInterval})");
        if (BalanceSettle < TimeSpan.Zero) errors.Add($"{section}:BalanceSettle must not be negative (is {BalanceSettle})");
        if (MaxTransfersPerRound < 1) errors.Add($"{section}:MaxTransfersPerRound must be at least 1 (is {MaxTransfersPerRound})");
        if (HandOffTimeout < TimeSpan.Zero) errors.Add($"{section}:HandOffTimeout must not be negative (is {HandOffTimeout})");
        ArgumentNullException.ThrowIfNull(Placement);
        if (ReplicationFactor < 0) errors.Add($"{section}:ReplicationFactor must be 0 (every member) or positive (is {ReplicationFactor})");
        else if (ReplicationFactor > InitialMembers.Count && InitialMembers.Count > 0)
            errors.Add($"{section}:ReplicationFactor must be at most the {InitialMembers.Count} initial members (is {ReplicationFactor})");
        var ids = new HashSet<long>();
        for (var i = 0; i < InitialMembers.Count; i++)
        {
            var m = InitialMembers[i];
            if (m.Id <= 0) errors.Add($"{section}:InitialMembers:{i}:Id must be positive (is {m.Id})");
            else if (!ids.Add(m.Id)) errors.Add($"{section}:InitialMembers:{i}:Id {m.Id} is listed twice");
            if (!Transport.Tcp.TcpTransportOptions.TryParseEndPoint(m.RaftEndpoint, out _))
                errors.Add($"{section}:InitialMembers:{i}:RaftEndpoint '{m.RaftEndpoint}' is not host:port");
        }
        return errors;
    }
}
