using Raft.MultiRaft;
using Raft.Transport.Tcp;

namespace Raft.Server;

/// <summary>The settings every example server shares, under its own section (<see cref="Section"/>: <c>Kv</c>,
/// <c>Queue</c>; appsettings.json, environment <c>Kv__NodeId</c>, command line <c>--Kv:NodeId</c>).</summary>
public abstract class ServerOptions
{
    /// <param name="section">The configuration section, named in every error.</param>
    /// <param name="clusterId">The default <see cref="ClusterId"/>.</param>
    protected ServerOptions(string section, string clusterId)
    {
        Section = section;
        ClusterId = clusterId;
    }

    /// <summary>The configuration section these settings come from.</summary>
    public string Section { get; }

    /// <summary>This node's id (positive, unique in the cluster).</summary>
    public long NodeId { get; set; }
    /// <summary>Shared by every node; a node of another cluster is refused at the handshake.</summary>
    public string ClusterId { get; set; }
    /// <summary>Where this node's Raft transport listens (host:port).</summary>
    public string RaftEndpoint { get; set; } = "";
    /// <summary>This node's HTTP base URL (what Kestrel listens on, and what other nodes and the UI link to).</summary>
    public string HttpUrl { get; set; } = "";
    /// <summary>The node's data folder (one shared log for every group).</summary>
    public string DataDirectory { get; set; } = "";
    /// <summary>The cluster's first members (the same list on each); a node not listed joins once added through <c>POST /cluster/members</c>.</summary>
    public List<ClusterMember> Members { get; set; } = [];
    /// <summary>How names map to Raft groups: <c>per-key</c> (the default; each name its own group, created on its first
    /// write, released on delete) or <c>hash:N</c> (N groups created when the cluster forms, each name in the one its
    /// stable hash picks). Fixed when the cluster forms: the first members' setting is recorded and followed.</summary>
    public string Placement { get; set; } = "per-key";
    /// <summary>How many nodes replicate each group: 1 to the number of <see cref="Members"/>; 0 (the default) for every
    /// member. A node that does not replicate a name's group forwards its requests to one that does. Fixed when the
    /// cluster forms, like <see cref="Placement"/>.</summary>
    public int ReplicationFactor { get; set; }
    /// <summary>How long a request may take before it answers 504.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The node host's settings (<c>Section:Raft:TickInterval</c>, <c>Section:Raft:SnapshotEntries</c>, ...);
    /// NodeId and RequestTimeout are taken from this section's own keys.</summary>
    public Raft.Node.RaftNodeOptions Raft { get; set; } = new();

    /// <summary>The chaos admin endpoints (<c>Section:Chaos:Enabled</c>, <c>Section:Chaos:Token</c>, client certificates); off by default.</summary>
    public Raft.AspNetCore.RaftChaosOptions Chaos { get; set; } = new();

    /// <summary>HTTPS on <see cref="HttpUrl"/> (<c>Section:Https:CertificatePath</c>, <c>Section:Https:KeyPath</c>, PEM); off by default.</summary>
    public Raft.AspNetCore.RaftHttpsOptions Https { get; set; } = new();

    /// <summary>Start joining the cluster even when listed in <see cref="Members"/> (never bootstrapping the directory);
    /// set at start after a chaos reset wiped the data folder.</summary>
    public bool Join { get; set; }

    /// <summary>The placement layer's settings these make (valid settings only).</summary>
    public MultiRaftOptions ToPlacementOptions()
    {
        PlacementPolicy.TryParse(Placement, out var policy);
        return new MultiRaftOptions { InitialMembers = Members, Placement = policy, ReplicationFactor = ReplicationFactor, Join = Join };
    }

    /// <summary>Every problem, each naming its key; empty when valid. A server adds its own keys' problems.</summary>
    public virtual IReadOnlyList<string> Validate()
    {
        var s = Section;
        var errors = new List<string>();
        if (NodeId <= 0) errors.Add($"{s}:NodeId must be positive (is {NodeId})");
        if (string.IsNullOrWhiteSpace(ClusterId)) errors.Add($"{s}:ClusterId must not be empty");
        if (!TcpTransportOptions.TryParseEndPoint(RaftEndpoint, out _)) errors.Add($"{s}:RaftEndpoint '{RaftEndpoint}' is not host:port");
        if (!Uri.TryCreate(HttpUrl, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            errors.Add($"{s}:HttpUrl '{HttpUrl}' is not an http(s) URL");
        if (string.IsNullOrWhiteSpace(DataDirectory)) errors.Add($"{s}:DataDirectory must name a folder");
        if (Members.Count == 0) errors.Add($"{s}:Members must list the cluster's first members (Id, RaftEndpoint, ApiUrl)");
        if (!PlacementPolicy.TryParse(Placement, out _))
            errors.Add($"{s}:Placement must be 'per-key' or 'hash:N' with N within 1-{PlacementPolicy.MaxHashGroups} (is '{Placement}')");
        if (ReplicationFactor < 0 || ReplicationFactor > Math.Max(1, Members.Count))
            errors.Add($"{s}:ReplicationFactor must be within 1-{Math.Max(1, Members.Count)} (the members), or 0 for every member (is {ReplicationFactor})");
        if (RequestTimeout <= TimeSpan.Zero) errors.Add($"{s}:RequestTimeout must be positive (is {RequestTimeout})");
        errors.AddRange(Chaos.Validate($"{s}:Chaos"));
        errors.AddRange(Https.Validate($"{s}:Https"));
        if (url is not null && (url.Scheme == "https") != Https.Enabled)
            errors.Add(Https.Enabled ? $"{s}:HttpUrl '{HttpUrl}' must be an https URL when {s}:Https is configured"
                : $"{s}:HttpUrl '{HttpUrl}' is https: set {s}:Https:CertificatePath and {s}:Https:KeyPath");
        // The node id is Section:NodeId (checked above); the node host's own copy is filled from it, so a different one is a mistake.
        if (Raft.NodeId != 0 && Raft.NodeId != NodeId)
            errors.Add($"{s}:Raft:NodeId must be left unset ({s}:NodeId is the node's id; is {Raft.NodeId}, {s}:NodeId {NodeId})");
        errors.AddRange(Raft.Validate().Where(e => !e.StartsWith(nameof(Raft.NodeId) + " ", StringComparison.Ordinal)).Select(e => $"{s}:Raft:{e}"));
        var placement = new MultiRaftOptions { InitialMembers = Members };
        errors.AddRange(placement.Validate($"{s}:Members").Where(e => e.Contains("InitialMembers")).Select(e => e.Replace(":InitialMembers", "")));
        return errors;
    }
}
