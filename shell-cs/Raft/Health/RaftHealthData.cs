namespace Raft.Health;

/// <summary>The data of an unhealthy Raft health check result.</summary>
internal static class RaftHealthData
{
    /// <summary><c>reason</c> (every problem, "; "-separated), <c>nodes</c> and <c>groups</c> (the ids concerned).</summary>
    public static IReadOnlyDictionary<string, object> Of(string reason, IReadOnlyList<long> nodes, IReadOnlyList<long> groups) =>
        new Dictionary<string, object> { ["reason"] = reason, ["nodes"] = nodes.ToArray(), ["groups"] = groups.ToArray() };
}
