using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Raft.AspNetCore;
using Raft.Health;
using Raft.Node;

namespace Raft.Worker;

/// <summary>The worker's operations endpoints (--http): an ASP.NET Core host beside the three node hosts.</summary>
internal static class Operations
{
    /// <summary>A web host on <paramref name="address"/> (host:port) serving the nodes of <paramref name="nodeHosts"/>.</summary>
    public static WebApplication Build(string address, IReadOnlyList<IHost> nodeHosts)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls($"http://{address}");
        builder.Services.AddRaftMetrics(); // listens to the Raft meter of every node in the process
        foreach (var host in nodeHosts) builder.Services.AddSingleton(host.Services.GetRequiredService<IRaftNode>());
        builder.Services.AddHealthChecks().AddRaft();
        var app = builder.Build();
        app.MapRaftMetrics();
        app.MapRaftStatus();
        app.MapRaftHealth();
        return app;
    }
}
