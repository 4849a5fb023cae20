using Microsoft.Extensions.Diagnostics.HealthChecks;
using Raft.Node;

namespace Raft.Health;

/// <summary>Unhealthy when a node's loop is not running, its storage failed, or any of its groups is faulted; the
/// result's data holds <c>reason</c>, <c>nodes</c> and <c>groups</c> (the faulted group ids).</summary>
public sealed class RaftLivenessCheck(IEnumerable<IRaftNode> nodes) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(RaftHealthData.Evaluate(nodes, context, "running", static (_, status, problem) =>
        {
            if (!status.Running) problem("loop not running", null);
            if (status.StorageFailure is { } failure) problem($"storage failed: {failure}", null);
            foreach (var g in status.Groups)
                if (g.Fault is { } fault) problem($"faulted: {fault}", g.GroupId);
        }));
}
