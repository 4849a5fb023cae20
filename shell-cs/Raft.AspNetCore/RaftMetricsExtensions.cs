using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using Raft.Node;

namespace Raft.AspNetCore;

/// <summary>A Prometheus scrape endpoint for the <c>Raft</c> meter, through the OpenTelemetry Prometheus exporter.</summary>
public static class RaftMetricsExtensions
{
    /// <summary>
    /// Adds an OpenTelemetry meter provider listening to the <see cref="RaftMetrics.MeterName"/> meter with the
    /// Prometheus exporter; <paramref name="configure"/> can add other meters (e.g. <c>AddAspNetCoreInstrumentation</c>)
    /// or views. Serve it with <see cref="MapRaftMetrics"/>.
    /// </summary>
    public static IServiceCollection AddRaftMetrics(this IServiceCollection services, Action<MeterProviderBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            metrics.AddMeter(RaftMetrics.MeterName).AddPrometheusExporter();
            configure?.Invoke(metrics);
        });
        return services;
    }

    /// <summary>Maps the Prometheus text exposition of the meters added by <see cref="AddRaftMetrics"/> at <paramref name="pattern"/>.</summary>
    public static IEndpointConventionBuilder MapRaftMetrics(this IEndpointRouteBuilder endpoints, string pattern = "/metrics")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.MapPrometheusScrapingEndpoint(pattern);
    }
}
