using System.Text.Json;

namespace Raft.Tui;

/// <summary>One group as one node reported it in <c>/raft/status</c>.</summary>
/// <param name="GroupId">The group.</param>
/// <param name="Role">The node's role in it (<c>Follower</c>, <c>PreCandidate</c>, <c>Candidate</c>, <c>Leader</c>).</param>
/// <param name="Term">The node's current term.</param>
/// <param name="Leader">The leader the node knows of (0 when none).</param>
/// <param name="FirstIndex">The first index still in its log.</param>
/// <param name="LastIndex">Its last log index.</param>
/// <param name="CommitIndex">Its commit index.</param>
/// <param name="AppliedIndex">The last index applied to its state machine.</param>
/// <param name="SnapshotIndex">The index of its newest snapshot (0 when none).</param>
/// <param name="Replicas">On a leader, each other member's lag (its last index minus the member's match), by node id.</param>
public sealed record GroupSnapshot(long GroupId, string Role, long Term, long Leader, long FirstIndex, long LastIndex,
    long CommitIndex, long AppliedIndex, long SnapshotIndex, IReadOnlyDictionary<long, long> Replicas)
{
    /// <summary>The node leads this group.</summary>
    public bool IsLeader => Role == "Leader";
}

/// <summary>A node's <c>/raft/status</c> document, reduced to what the screen shows.</summary>
/// <param name="NodeId">The node's id.</param>
/// <param name="Paused">Held by <c>/admin/pause</c>: not stepping until resumed.</param>
/// <param name="Groups">Every group on the node, by id.</param>
public sealed record NodeSnapshot(long NodeId, bool Paused, IReadOnlyList<GroupSnapshot> Groups)
{
    /// <summary>Reads the JSON <c>/raft/status</c> serves (camelCase, roles by name; one object per node).</summary>
    /// <exception cref="JsonException">Not such a document.</exception>
    public static NodeSnapshot Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        // A process holding several nodes serves an array; the UI polls one node per URL, so it takes the first.
        if (root.ValueKind == JsonValueKind.Array)
            root = root.EnumerateArray().FirstOrDefault();
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("nodeId", out var id))
            throw new JsonException("not a /raft/status document (no nodeId)");
        var groups = new List<GroupSnapshot>();
        if (root.TryGetProperty("groups", out var gs) && gs.ValueKind == JsonValueKind.Array)
            foreach (var g in gs.EnumerateArray())
                groups.Add(ParseGroup(g));
        var paused = root.TryGetProperty("paused", out var p) && p.ValueKind == JsonValueKind.True;
        return new NodeSnapshot(id.GetInt64(), paused, groups.OrderBy(g => g.GroupId).ToArray());
    }

    private static GroupSnapshot ParseGroup(JsonElement g)
    {
        long Long(string name) => g.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;
        var replicas = new Dictionary<long, long>();
        if (g.TryGetProperty("replicas", out var rs) && rs.ValueKind == JsonValueKind.Array)
            foreach (var r in rs.EnumerateArray())
                replicas[r.GetProperty("nodeId").GetInt64()] = r.GetProperty("lag").GetInt64();
        var role = g.TryGetProperty("role", out var roleElement) ? roleElement.GetString() ?? "?" : "?";
        return new GroupSnapshot(Long("groupId"), role, Long("term"), Long("leader"), Long("firstIndex"), Long("lastIndex"),
            Long("commitIndex"), Long("appliedIndex"), Long("snapshotIndex"), replicas);
    }
}
