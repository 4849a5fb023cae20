using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Raft.Node;

namespace Raft.Health;

/// <summary>Unhealthy when a node has no group, a group has been without a known leader for an election timeout or
/// more (<c>ElectionTicks x TickInterval</c>), or a group's applied index trails its commit index by more than
/// <see cref="RaftHealthCheckOptions.MaxApplyLag"/>; the result's data holds <c>reason</c>, <c>nodes</c> and
/// <c>groups</c> (the ids of the groups that are not ready).</summary>
public sealed class RaftReadinessCheck(IEnumerable<IRaftNode> nodes, IOptions<RaftHealthCheckOptions> options, TimeProvider time) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var maxLag = options.Value.MaxApplyLag;
        var now = time.GetUtcNow();
        var reasons = new List<string>();
        var badNodes = new List<long>();
        var badGroups = new List<long>();
        var count = 0;
        foreach (var node in nodes)
        {
            count++;
            var status = node.GetStatus();
            var timeout = node.Options.TickInterval * node.Options.ElectionTicks;
            var before = reasons.Count;
            if (!status.Running) reasons.Add($"node {status.NodeId}: not running");
            if (status.Groups.Count == 0) reasons.Add($"node {status.NodeId}: no group open");
            foreach (var g in status.Groups)
            {
                var notReady = false;
                if (g.Leader == 0 && (g.LeaderlessSince is not { } since || now - since >= timeout))
                {
                    reasons.Add($"node {status.NodeId} group {g.GroupId}: no known leader for an election timeout ({timeout.TotalMilliseconds:0} ms)");
                    notReady = true;
                }
                if (g.CommitIndex - g.AppliedIndex > maxLag)
                {
                    reasons.Add($"node {status.NodeId} group {g.GroupId}: applied index {g.AppliedIndex} trails commit index {g.CommitIndex} by more than {maxLag}");
                    notReady = true;
                }
                if (notReady) badGroups.Add(g.GroupId);
            }
            if (reasons.Count > before) badNodes.Add(status.NodeId);
        }
        if (count == 0) return Task.FromResult(HealthCheckResult.Unhealthy("no Raft node is registered", data: RaftHealthData.Of("no Raft node is registered", [], [])));
        return Task.FromResult(reasons.Count == 0
            ? HealthCheckResult.Healthy($"{count} node(s) ready")
            : new HealthCheckResult(context.Registration.FailureStatus, reasons[0], data: RaftHealthData.Of(string.Join("; ", reasons), badNodes, badGroups.Distinct().ToList())));
    }
}
