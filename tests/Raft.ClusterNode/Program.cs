// Raft.ClusterNode: one node of a 3-node test cluster in its own process (generic host with AddRaft, TCP on
// 127.0.0.1, file storage in the given directory, group 1 with every node a voter), driven by the process-crash tests
// through a line protocol. The test kills it with SIGKILL at any moment and restarts it on the same directory.
//
// Usage: Raft.ClusterNode [--http <host:port>] <node-id> <data-directory> <id>=<host:port> ... (every node of the cluster,
//        this one included). With --http the node also serves /raft/status, /health, /alive and /metrics (Prometheus)
//        on that address over HTTP (ASP.NET Core, Raft.AspNetCore).
//
// Every output line ends with ';' so a line cut by the kill is recognisable.
//   stdout: ready;                          the group is open (after recovery)
//           ack <cmd> <index> <count>;      ProposeAsync(<cmd>) completed: applied at <index> as the <count>th command
//           nack <cmd> <reason> <hint>;     ProposeAsync(<cmd>) failed (<hint>: the leader hint of not-leader, else 0)
//           status <role> <term> <leader> <last> <commit> <applied>;
//           dump <count> <index>:<cmd> ...; every applied command in apply order
//           snapshot-paused <offset>;       (RAFT_PAUSE_AFTER_SNAPSHOT_CHUNKS=N only) N chunks of a snapshot are durable
//                                           and later chunks are dropped: the transfer stands still until the kill
//   stdin:  propose <cmd> | status | dump   (end of input exits the process at once)
// Exit code 3: the listen address was in use.
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MessagePack;
using Microsoft.Extensions.Options;
using Raft.AspNetCore;
using Raft.ClusterNode;
using Raft.Health;
using Raft.Hosting;
using Raft.Node;
using Raft.Serialization;
using Raft.Transport;
using Raft.Transport.Tcp;

string? http = null;
if (args.Length >= 2 && args[0] == "--http")
{
    http = args[1];
    args = args[2..];
}
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: Raft.ClusterNode [--http <host:port>] <node-id> <data-directory> <id>=<host:port> ...");
    return 2;
}
long self = long.Parse(args[0]);
string data = args[1];
var endpoints = args.Skip(2).Select(a => a.Split('=', 2)).ToDictionary(p => long.Parse(p[0]), p => p[1]);

var output = Console.Out;
object outputLock = new();
void Say(string line)
{
    lock (outputLock)
    {
        output.Write(line);
        output.Write(";\n");
        output.Flush();
    }
}

IHostApplicationBuilder builder = http is null ? Host.CreateApplicationBuilder() : WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace); // stdout carries the protocol only
// RAFT_NODE_LOG_LEVEL (e.g. Debug) makes the node's own lines more detailed when a failure needs explaining.
var raftLevel = Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("RAFT_NODE_LOG_LEVEL"), out var level) ? level : LogLevel.Information;
builder.Logging.SetMinimumLevel(LogLevel.Warning).AddFilter("Raft", raftLevel);
builder.Services.AddSingleton<CommandLog>();
if (int.TryParse(Environment.GetEnvironmentVariable("RAFT_PAUSE_AFTER_SNAPSHOT_CHUNKS"), out var pauseAfter) && pauseAfter > 0)
{
    // The TCP transport AddRaft would build, behind the test's pause point.
    builder.Services.AddSingleton<ITransport<RaftEnvelope<long>[]>>(sp => new SnapshotPause(
        new TcpTransport<RaftEnvelope<long>[]>(sp.GetRequiredService<IOptions<RaftHostOptions>>().Value.ToTransportOptions(),
            new RaftBatchCodec<long>(new RaftMessageCodec<long>(MessagePackSerializerOptions.Standard)),
            sp.GetRequiredService<ILogger<TcpTransport<RaftEnvelope<long>[]>>>()),
        pauseAfter, Say));
}
builder.Services.AddRaft<long, long, CommandLogMachine>(o =>
{
    o.NodeId = self;
    o.ClusterId = "process-crash-tests";
    o.ListenEndpoint = endpoints[self];
    foreach (var (id, endpoint) in endpoints)
        if (id != self) o.Peers[id] = endpoint;
    o.DataDirectory = data;
    o.TickInterval = TimeSpan.FromMilliseconds(20);
    o.ElectionTicks = 15; // 0.3-0.6 s: a loaded machine should not depose a healthy leader
    o.HeartbeatTicks = 3;
    o.RequestTimeout = TimeSpan.FromSeconds(5);
    // Frequent snapshots and a short trailing log: restarts restore from snapshots, lagging nodes get InstallSnapshot.
    o.SnapshotEntries = 64;
    o.CompactionTrailing = 16;
    // Small chunks: a transfer takes many round trips, so a node can be killed in the middle of one (and resume it).
    o.SnapshotChunkBytes = 512;
    // Serving metrics: group 1 gets series of its own, for the dashboards' per-group index panel.
    if (http is not null) o.GroupMetrics = 1;
});
if (http is not null)
{
    builder.Services.AddRaftMetrics();
    builder.Services.AddHealthChecks().AddRaft();
}
using var host = builder switch
{
    WebApplicationBuilder web => BuildWeb(web, http!),
    HostApplicationBuilder plain => plain.Build(),
    _ => throw new InvalidOperationException(),
};
try
{
    await host.StartAsync();
}
catch (Exception e) when (e is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse }
                          || e.InnerException is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse })
{
    Console.Error.WriteLine($"address in use: {endpoints[self]}: {e.Message}");
    return 3;
}
var node = host.Services.GetRequiredService<RaftNodeHost<long, long>>();
var group = node.GetGroup(1);
var applied = host.Services.GetRequiredService<CommandLog>();
Say("ready");

async Task Propose(long command)
{
    try
    {
        var r = await group.ProposeAsync(command);
        Say($"ack {command} {r.Index} {r.Result}");
    }
    catch (NotLeaderException e) { Say($"nack {command} not-leader {e.LeaderHint}"); }
    catch (Exception e) { Say($"nack {command} {e.GetType().Name} 0"); }
}

var input = Console.In;
while (input.ReadLine() is { } line)
{
    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    if (parts.Length == 0) continue;
    switch (parts[0])
    {
        case "propose":
            _ = Propose(long.Parse(parts[1]));
            break;
        case "status":
            var s = group.Status;
            Say($"status {s.Role} {s.Term} {s.Leader} {s.LastIndex} {s.CommitIndex} {s.AppliedIndex}");
            break;
        case "dump":
            var all = applied.ToArray();
            Say($"dump {all.Length}{string.Concat(all.Select(a => $" {a.Index}:{a.Command}"))}");
            break;
        default:
            Console.Error.WriteLine($"unknown command: {line}");
            break;
    }
}
// The test is gone (or closed our input): leave without a graceful stop, as a crash would.
Environment.Exit(0);
return 0;

static IHost BuildWeb(WebApplicationBuilder web, string address)
{
    web.WebHost.UseUrls($"http://{address}");
    var app = web.Build();
    app.MapRaftMetrics();
    app.MapRaftStatus();
    app.MapRaftHealth();
    return app;
}
