using Raft.MultiRaft;

namespace Raft.AspNetCore;

/// <summary>What <see cref="RaftAdminEndpoints.MapRaftAdmin{TCommand,TResult}"/> needs to know of the server besides
/// its node: where the node's data lives (for <c>reset</c>), its own address, and its time limits.</summary>
public sealed class RaftAdminSettings
{
    /// <summary>The node's data folder: <c>reset</c> leaves its marker there, and the next start wipes it.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>This node as the cluster knows it (id, Raft endpoint, HTTP base URL): what a reset node asks to be added back as.</summary>
    public required ClusterMember Self { get; init; }

    /// <summary>The members to ask to add this node back after a reset (the configured first members).</summary>
    public IReadOnlyList<ClusterMember> Members { get; init; } = [];

    /// <summary>This start follows a reset (<see cref="RaftReset.Prepare"/> returned true): ask a member to add the node back.</summary>
    public bool Rejoin { get; init; }

    /// <summary>How long one admin call may take (a membership change, the wait of a paused request).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Asks the other members for their status and this node's way back in; one with a 5 s timeout when null.</summary>
    public HttpClient? Client { get; init; }

    /// <summary>How the process dies for <c>kill</c> and <c>reset</c>; SIGKILL to itself (no flush, like a crash) when null.</summary>
    public Action? Kill { get; init; }

    /// <summary>Where the endpoints live.</summary>
    public string Prefix { get; init; } = "/admin";
}
