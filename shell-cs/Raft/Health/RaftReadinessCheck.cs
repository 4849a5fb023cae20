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
        return Task.FromResult(RaftHealthData.Evaluate(nodes, context, "ready", (node, status, problem) =>
        {
            var timeout = node.Options.TickInterval * node.Options.ElectionTicks;
            if (!status.Running) problem("not running", null);
            if (status.Groups.Count == 0) problem("no group open", null);
            foreach (var g in status.Groups)
            {
                if (g.Leader == 0 && (g.LeaderlessSince is not { } since || now - since >= timeout))
                    problem($"no known leader for an election timeout ({timeout.TotalMilliseconds:0} ms)", g.GroupId);
                if (g.CommitIndex - g.AppliedIndex > maxLag)
                    problem($"applied index {g.AppliedIndex} trails commit index {g.CommitIndex} by more than {maxLag}", g.GroupId);
            }
        }));
    }
}
