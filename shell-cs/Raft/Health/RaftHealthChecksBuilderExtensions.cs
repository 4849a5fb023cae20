using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Raft.Node;

namespace Raft.Health;

/// <summary>Registers the Raft health checks (no ASP.NET Core needed: a generic-host worker can run them through
/// <c>HealthCheckService</c>; <c>Raft.AspNetCore</c>'s <c>MapRaftHealth</c> serves them over HTTP).</summary>
public static class RaftHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds <c>raft-live</c> (<see cref="RaftLivenessCheck"/>, tagged <see cref="RaftHealthTags.Live"/>) and
    /// <c>raft-ready</c> (<see cref="RaftReadinessCheck"/>, tagged <see cref="RaftHealthTags.Ready"/>) over every
    /// <see cref="IRaftNode"/> registered in DI (<c>services.AddRaft&lt;...&gt;()</c> registers its node).
    /// </summary>
    public static IHealthChecksBuilder AddRaft(this IHealthChecksBuilder builder, Action<RaftHealthCheckOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Services.AddOptions<RaftHealthCheckOptions>();
        if (configure is not null) options.Configure(configure);
        builder.Add(new HealthCheckRegistration("raft-live",
            sp => new RaftLivenessCheck(sp.GetServices<IRaftNode>()), HealthStatus.Unhealthy, [RaftHealthTags.Live]));
        builder.Add(new HealthCheckRegistration("raft-ready",
            sp => new RaftReadinessCheck(sp.GetServices<IRaftNode>(), sp.GetRequiredService<IOptions<RaftHealthCheckOptions>>(),
                sp.GetService<TimeProvider>() ?? TimeProvider.System), HealthStatus.Unhealthy, [RaftHealthTags.Ready]));
        return builder;
    }
}
