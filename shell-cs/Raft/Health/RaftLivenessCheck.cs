using Microsoft.Extensions.Diagnostics.HealthChecks;
using Raft.Node;

namespace Raft.Health;

/// <summary>Unhealthy when a node's loop is not running, its storage failed, or any of its groups is faulted; the
/// result's data holds <c>reason</c>, <c>nodes</c> and <c>groups</c> (the faulted group ids).</summary>
public sealed class RaftLivenessCheck(IEnumerable<IRaftNode> nodes) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var reasons = new List<string>();
        var badNodes = new List<long>();
        var faulted = new List<long>();
        var count = 0;
        foreach (var node in nodes)
        {
            count++;
            var status = node.GetStatus();
            var before = reasons.Count;
            if (!status.Running) reasons.Add($"node {status.NodeId}: loop not running");
            if (status.StorageFailure is { } failure) reasons.Add($"node {status.NodeId}: storage failed: {failure}");
            foreach (var g in status.Groups)
                if (g.Fault is { } fault)
                {
                    faulted.Add(g.GroupId);
                    reasons.Add($"node {status.NodeId} group {g.GroupId}: faulted: {fault}");
                }
            if (reasons.Count > before) badNodes.Add(status.NodeId);
        }
        if (count == 0) return Task.FromResult(HealthCheckResult.Unhealthy("no Raft node is registered", data: RaftHealthData.Of("no Raft node is registered", [], [])));
        return Task.FromResult(reasons.Count == 0
            ? HealthCheckResult.Healthy($"{count} node(s) running")
            : new HealthCheckResult(context.Registration.FailureStatus, reasons[0], data: RaftHealthData.Of(string.Join("; ", reasons), badNodes, faulted)));
    }
}
