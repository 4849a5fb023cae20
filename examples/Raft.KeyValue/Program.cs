// Raft.KeyValue: a replicated key-value store on a 3-node Raft cluster on 127.0.0.1 in one process (three generic
// hosts, each with its own TCP listener, data directory and node loop). It puts, deletes and compare-and-swaps keys
// through the leader (and one put through a follower, which forwards it), reads them back linearizably, writes enough keys for the nodes to snapshot and compact their
// logs, moves leadership to another node and reads again there, then exits.
//
//   dotnet run --project examples/Raft.KeyValue -c Release
//   options: --base-port 7201  --keys 500  --data DIR (default: a temp dir, deleted at exit)
//
// Each host is configured as a one-node-per-process deployment would be (the "Raft" section below): running one node
// per machine only means moving one of these configurations into that machine's appsettings.json.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Raft.Hosting;
using Raft.KeyValue;
using Raft.Node;

var basePort = (int)ArgValue("--base-port", 7201L);
var keys = (int)ArgValue("--keys", 500L);
var dataArg = Array.IndexOf(args, "--data") is var d and >= 0 && d + 1 < args.Length ? args[d + 1] : null;
var data = dataArg ?? Path.Combine(Path.GetTempPath(), "raft-kv-" + Guid.NewGuid().ToString("N")[..8]);

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
        ["Raft:ClusterId"] = "raft-kv-demo",
        ["Raft:ListenEndpoint"] = $"127.0.0.1:{basePort + id - 1}",
        ["Raft:DataDirectory"] = Path.Combine(data, $"node-{id}"),
        ["Raft:Groups:0"] = "1",
        // Snapshot every 100 applied commands and keep 50 entries behind it: the log stays short, and a follower
        // further behind than that catches up from KeyValueStore.Snapshot instead of the log.
        ["Raft:SnapshotEntries"] = "100",
        ["Raft:CompactionTrailing"] = "50",
    };
    foreach (var peer in ids.Where(p => p != id)) settings[$"Raft:Peers:{peer}"] = $"127.0.0.1:{basePort + peer - 1}";
    builder.Configuration.AddInMemoryCollection(settings);
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    // TResult is KvResult, so the node is a RaftNodeHost<KvCommand, KvResult>.
    builder.Services.AddRaft<KvCommand, KvResult, KeyValueStore>(builder.Configuration.GetSection("Raft"));
    hosts.Add(builder.Build());
}

try
{
    foreach (var h in hosts) await h.StartAsync(stop.Token);
    var nodes = hosts.Select(h => h.Services.GetRequiredService<RaftNodeHost<KvCommand, KvResult>>()).ToArray();
    var kv = new LeaderClient<KvCommand, KvResult, KeyValueStore>(nodes);
    Console.WriteLine($"3 nodes on 127.0.0.1:{basePort}-{basePort + 2}, data in {data}");
    var leader = await kv.LeaderAsync(cancellationToken: stop.Token);
    Console.WriteLine($"leader elected: node {leader.NodeId}");

    async Task Do(KvCommand command)
    {
        var r = await kv.ProposeAsync(command, stop.Token);
        Console.WriteLine($"  {command,-62} -> {r.Result}  (log index {r.Index})");
    }
    async Task Get(string key) =>
        Console.WriteLine($"  Get {key,-58} -> {await kv.ReadAsync(store => store.Get(key), stop.Token) ?? "(absent)"}");

    Console.WriteLine("writes and linearizable reads through the leader:");
    await Do(new Put("color", "red"));
    await Do(new Put("size", "L"));
    await Get("color");
    await Do(new CompareAndSwap("color", "red", "green"));   // succeeds: the value was red
    await Do(new CompareAndSwap("color", "red", "blue"));    // fails: it is green now; the result says so
    await Do(new CompareAndSwap("lock", null, "owner-1"));   // create-if-absent: a lock
    await Do(new CompareAndSwap("lock", null, "owner-2"));   // the second taker loses
    await Do(new Delete("size"));
    await Get("size");

    // Any node takes writes: a follower forwards them to the leader it knows and returns the leader's answer.
    var follower = nodes.First(n => n.NodeId != leader.NodeId).GetGroup(1);
    await follower.WaitForLeaderAsync(cancellationToken: stop.Token);
    var forwarded = await follower.ProposeAsync(new Put("written-on", $"node {follower.Status.NodeId}"), stop.Token);
    Console.WriteLine($"  Put on follower node {follower.Status.NodeId}, forwarded to the leader -> {forwarded.Result}  (log index {forwarded.Index})");
    await Get("written-on");

    // Many writes in flight at once: the node batches them into few log appends. With SnapshotEntries = 100 every
    // node snapshots and compacts its log several times meanwhile.
    Console.WriteLine($"writing {keys} keys, 64 in flight...");
    using var gate = new SemaphoreSlim(64);
    await Task.WhenAll(Enumerable.Range(0, keys).Select(async i =>
    {
        await gate.WaitAsync(stop.Token);
        try { await kv.ProposeAsync(new Put($"key-{i:D4}", $"value-{i}"), stop.Token); }
        finally { gate.Release(); }
    }));
    var count = await kv.ReadAsync(store => store.Count, stop.Token);
    Console.WriteLine($"  store holds {count} keys");

    // Move leadership and read on the new leader: it applied the same commands, so it answers the same.
    var from = await kv.LeaderAsync(cancellationToken: stop.Token);
    var to = ids.First(i => i != from.NodeId);
    await from.TransferLeadershipAsync(to, stop.Token);
    Console.WriteLine($"leadership moved from node {from.NodeId} to node {to}; reading there:");
    await Get("color");
    await Get("lock");
    await Get($"key-{keys - 1:D4}");
    Console.WriteLine($"  store holds {await kv.ReadAsync(store => store.Count, stop.Token)} keys");
    var statuses = nodes.Select(n => n.GetGroup(1).Status).ToArray();
    Console.WriteLine($"done: applied index per node [{string.Join(", ", statuses.Select(s => s.AppliedIndex))}]");
}
finally
{
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
