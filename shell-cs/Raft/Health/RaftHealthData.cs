using Microsoft.Extensions.Diagnostics.HealthChecks;
using Raft.Node;

namespace Raft.Health;

/// <summary>What the Raft health checks share: every registered node's status looked at once, and an unhealthy
/// result's data: <c>reason</c> (every problem, "; "-separated), <c>nodes</c> and <c>groups</c> (the ids concerned).</summary>
internal static class RaftHealthData
{
    /// <summary>Calls <paramref name="inspect"/> with each node and its status and a way to report a problem (with
    /// the group it concerns, or null for the node itself); healthy when none is reported, unhealthy with the
    /// context's failure status and the data above otherwise, and when no node is registered.</summary>
    public static HealthCheckResult Evaluate(IEnumerable<IRaftNode> nodes, HealthCheckContext context, string healthy,
        Action<IRaftNode, NodeStatus, Action<string, long?>> inspect)
    {
        var reasons = new List<string>();
        var badNodes = new List<long>();
        var badGroups = new List<long>();
        var count = 0;
        foreach (var node in nodes)
        {
            count++;
            var status = node.GetStatus();
            var before = reasons.Count;
            inspect(node, status, (reason, group) =>
            {
                reasons.Add(group is { } g ? $"node {status.NodeId} group {g}: {reason}" : $"node {status.NodeId}: {reason}");
                if (group is { } id && !badGroups.Contains(id)) badGroups.Add(id);
            });
            if (reasons.Count > before) badNodes.Add(status.NodeId);
        }
        if (count == 0) return HealthCheckResult.Unhealthy("no Raft node is registered", data: Of("no Raft node is registered", [], []));
        return reasons.Count == 0
            ? HealthCheckResult.Healthy($"{count} node(s) {healthy}")
            : new HealthCheckResult(context.Registration.FailureStatus, reasons[0], data: Of(string.Join("; ", reasons), badNodes, badGroups));
    }

    private static IReadOnlyDictionary<string, object> Of(string reason, IReadOnlyList<long> nodes, IReadOnlyList<long> groups) =>
        new Dictionary<string, object> { ["reason"] = reason, ["nodes"] = nodes.ToArray(), ["groups"] = groups.ToArray() };
}
