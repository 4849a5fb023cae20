// Raft.Worker: a 3-node Raft cluster on 127.0.0.1 in one process (three generic hosts, each with its own TCP
// listener, data directory and node loop), a client that proposes commands to whichever node leads, and progress
// printed once a second.
//
//   dotnet run --project examples/Raft.Worker -c Release                 # until Ctrl+C
//   dotnet run --project examples/Raft.Worker -c Release -- --count 1000  # exit after 1000 commands
//   options: --count N  --base-port 7101  --data DIR (default: a temp dir, deleted at exit)  --concurrency 8
//            --http 127.0.0.1:8080  serve /metrics (Prometheus), /raft/status, /health and /alive for the three nodes
//
// Each host is configured exactly as a one-node-per-process deployment would be (the "Raft" section below), so
// running one node per machine only means moving one of these configurations into appsettings.json.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Raft.AspNetCore;
using Raft.Hosting;
using Raft.Node;
using Raft.Worker;

var count = ArgValue("--count", 0L);
var basePort = (int)ArgValue("--base-port", 7101L);
var concurrency = (int)ArgValue("--concurrency", 8L);
var dataArg = Array.IndexOf(args, "--data") is var d and >= 0 && d + 1 < args.Length ? args[d + 1] : null;
var http = Array.IndexOf(args, "--http") is var hi and >= 0 && hi + 1 < args.Length ? args[hi + 1] : null;
var data = dataArg ?? Path.Combine(Path.GetTempPath(), "raft-worker-" + Guid.NewGuid().ToString("N")[..8]);

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };

var ids = new long[] { 1, 2, 3 };
var hosts = new List<IHost>();
foreach (var id in ids)
{
    var builder = Host.CreateApplicationBuilder();
    var settings = new Dictionary<string, string?>
    {
        ["Raft:NodeId"] = id.ToString(),
        ["Raft:ClusterId"] = "raft-worker-demo",
        ["Raft:ListenEndpoint"] = $"127.0.0.1:{basePort + id - 1}",
        ["Raft:DataDirectory"] = Path.Combine(data, $"node-{id}"),
        ["Raft:TickInterval"] = "00:00:00.020",
        ["Raft:Groups:0"] = "1",
    };
    foreach (var peer in ids.Where(p => p != id)) settings[$"Raft:Peers:{peer}"] = $"127.0.0.1:{basePort + peer - 1}";
    builder.Configuration.AddInMemoryCollection(settings);
    builder.Logging.SetMinimumLevel(LogLevel.Warning).AddFilter("Raft.Node", LogLevel.Information);
    builder.Services.AddRaft<string, CounterMachine>(builder.Configuration.GetSection("Raft"));
    hosts.Add(builder.Build());
}

// With --http: one more host, ASP.NET Core, serving the three nodes of this process (one scrape target; every series
// carries its raft.node tag).
var web = http is null ? null : Operations.Build(http, hosts);
try
{
    foreach (var h in hosts) await h.StartAsync(stop.Token);
    if (web is not null)
    {
        await web.StartAsync(stop.Token);
        Console.WriteLine($"serving /metrics, /raft/status, /health and /alive on http://{http}");
    }
    var nodes = hosts.Select(h => h.Services.GetRequiredService<RaftNodeHost<string, object?>>()).ToArray();
    Console.WriteLine($"3 nodes on 127.0.0.1:{basePort}-{basePort + 2}, data in {data}");
    var leader = await nodes[0].GetGroup(1).WaitForLeaderAsync(TimeSpan.FromSeconds(30), stop.Token);
    Console.WriteLine($"leader elected: node {leader}");

    long done = 0, next = 0, failures = 0;
    var started = DateTime.UtcNow;
    async Task Client()
    {
        while (!stop.IsCancellationRequested && (count == 0 || Interlocked.Increment(ref next) <= count))
        {
            var leaderNode = nodes.FirstOrDefault(n => n.GetGroup(1).Status.IsLeader);
            if (leaderNode is null) { await Task.Delay(20, stop.Token); continue; }
            try
            {
                await leaderNode.GetGroup(1).ProposeAsync("requests", stop.Token);
                Interlocked.Increment(ref done);
            }
            catch (RaftException) { Interlocked.Increment(ref failures); if (count > 0) Interlocked.Decrement(ref next); }
            catch (RaftTimeoutException) { Interlocked.Increment(ref failures); if (count > 0) Interlocked.Decrement(ref next); }
        }
    }
    var clients = Enumerable.Range(0, concurrency).Select(_ => Task.Run(Client)).ToArray();
    var all = Task.WhenAll(clients);
    while (!all.IsCompleted)
    {
        await Task.WhenAny(all, Task.Delay(1000));
        var statuses = nodes.Select(n => n.GetGroup(1).Status).ToArray();
        var l = statuses.FirstOrDefault(s => s.IsLeader);
        Console.WriteLine($"{(DateTime.UtcNow - started).TotalSeconds,6:0.0}s  committed {Interlocked.Read(ref done),8}  " +
                          $"leader {l?.NodeId ?? 0} term {l?.Term ?? 0}  applied [{string.Join(", ", statuses.Select(s => s.AppliedIndex))}]" +
                          (failures > 0 ? $"  retried {failures}" : ""));
    }
    try { await all; } catch (OperationCanceledException) { }
    // Every node applies the same commands: wait for the followers to catch up, then compare.
    var target = nodes.Max(n => n.GetGroup(1).Status.CommitIndex);
    var until = DateTime.UtcNow.AddSeconds(10);
    while (nodes.Any(n => n.GetGroup(1).Status.AppliedIndex < target) && DateTime.UtcNow < until) await Task.Delay(20);
    Console.WriteLine($"done: {done} commands committed; applied index per node [{string.Join(", ", nodes.Select(n => n.GetGroup(1).Status.AppliedIndex))}]");
}
finally
{
    if (web is not null) await web.DisposeAsync();
    foreach (var h in hosts)
    {
        try { await h.StopAsync(TimeSpan.FromSeconds(5)); } catch (Exception e) { Console.Error.WriteLine(e.Message); }
        h.Dispose();
    }
    if (dataArg is null) try { Directory.Delete(data, true); } catch { }
}
return 0;

long ArgValue(string name, long fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && long.TryParse(args[i + 1], out var v) ? v : fallback;
}
