using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Raft.AspNetCore;
using Raft.Health;
using Raft.Node;

namespace Raft.Server;

/// <summary>The hosting every example server shares: its settings bound and validated before anything starts, its
/// node as a hosted service, health checks, metrics, problem details, and the Raft endpoints (<c>/raft/status</c>,
/// <c>/health</c>, <c>/alive</c>, <c>/metrics</c>).</summary>
public static class ServerHosting
{
    /// <summary>Binds <typeparamref name="TOptions"/> from its section and validates it; on problems prints each (with
    /// its key) to stderr and returns null. Otherwise wipes the data folder when a chaos reset asked for it (then the
    /// node starts joining, <see cref="ServerOptions.Join"/>), registers <typeparamref name="TNode"/> (a singleton, started and
    /// stopped as a hosted service, also as <see cref="IServerNode"/> and its <see cref="IRaftNode"/>) and listens on
    /// the node's HTTP URL.</summary>
    public static TOptions? AddRaftServer<TOptions, TNode>(this WebApplicationBuilder builder)
        where TOptions : ServerOptions, new()
        where TNode : class, IServerNode, IHostedService
    {
        var section = new TOptions().Section;
        builder.Services.AddOptions<TOptions>().Bind(builder.Configuration.GetSection(section));
        var settings = builder.Configuration.GetSection(section).Get<TOptions>() ?? new TOptions();
        if (settings.Validate() is { Count: > 0 } errors)
        {
            foreach (var e in errors) Console.Error.WriteLine($"configuration error: {e}");
            return null;
        }
        // After a chaos reset: the data folder is wiped here, and the node starts joining (it asks a member to add it back).
        if (RaftReset.Prepare(settings.DataDirectory))
        {
            builder.Configuration[$"{section}:{nameof(ServerOptions.Join)}"] = "true";
            settings.Join = true;
        }
        builder.WebHost.UseUrls(settings.HttpUrl).UseRaftHttps(settings.Https, settings.Chaos);
        builder.Services.AddSingleton<TNode>();
        builder.Services.AddSingleton<IServerNode>(sp => sp.GetRequiredService<TNode>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TNode>());
        builder.Services.AddSingleton<IRaftNode>(sp => sp.GetRequiredService<TNode>().Host);
        builder.Services.AddHealthChecks().AddRaft();
        builder.Services.AddRaftMetrics();
        builder.Services.AddProblemDetails();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        return settings;
    }

    /// <summary>Maps <c>/raft/status</c>, <c>/health</c>, <c>/alive</c> and <c>/metrics</c>.</summary>
    public static void MapRaftServer(this WebApplication app)
    {
        app.MapRaftStatus();
        app.MapRaftHealth();
        app.MapRaftMetrics();
    }
}
