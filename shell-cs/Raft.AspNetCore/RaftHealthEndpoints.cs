using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Routing;
using Raft.Health;

namespace Raft.AspNetCore;

/// <summary>The health endpoints over the checks tagged by <c>healthChecks.AddRaft()</c>.</summary>
public static class RaftHealthEndpoints
{
    /// <summary>
    /// Maps <paramref name="readyPattern"/> to the checks tagged <see cref="RaftHealthTags.Ready"/> and
    /// <paramref name="livePattern"/> to those tagged <see cref="RaftHealthTags.Live"/>; each answers 200 (Healthy or
    /// Degraded) or 503 (Unhealthy) with a JSON body giving every check's status, description and data.
    /// </summary>
    public static IEndpointRouteBuilder MapRaftHealth(this IEndpointRouteBuilder endpoints, string readyPattern = "/health", string livePattern = "/alive")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapHealthChecks(readyPattern, new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(RaftHealthTags.Ready), ResponseWriter = HealthReportWriter.WriteAsync,
        });
        endpoints.MapHealthChecks(livePattern, new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(RaftHealthTags.Live), ResponseWriter = HealthReportWriter.WriteAsync,
        });
        return endpoints;
    }
}
