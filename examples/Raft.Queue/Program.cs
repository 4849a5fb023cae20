// Raft.Queue: a replicated FIFO work queue on a 3-node Raft cluster on 127.0.0.1 in one process (three generic hosts,
// each with its own TCP listener, data directory and node loop). Producers enqueue numbered items and consumers
// dequeue them at the same time, each through whichever node leads; halfway through, leadership moves to another
// node. At the end it checks that every item was delivered exactly once and in the order it was enqueued, and exits
// with 1 if not.
//
//   dotnet run --project examples/Raft.Queue -c Release
//   options: --base-port 7301  --producers 3  --consumers 3  --items 200 (per producer)
//            --data DIR (default: a temp dir, deleted at exit)
//
// Each host is configured as a one-node-per-process deployment would be (the "Raft" section below): running one node
// per machine only means moving one of these configurations into that machine's appsettings.json.
using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Raft.Hosting;
using Raft.Node;
using Raft.Queue;

var basePort = (int)ArgValue("--base-port", 7301L);
var producers = (int)ArgValue("--producers", 3L);
var consumers = (int)ArgValue("--consumers", 3L);
var perProducer = (int)ArgValue("--items", 200L);
var dataArg = Array.IndexOf(args, "--data") is var d and >= 0 && d + 1 < args.Length ? args[d + 1] : null;
var data = dataArg ?? Path.Combine(Path.GetTempPath(), "raft-queue-" + Guid.NewGuid().ToString("N")[..8]);

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
        ["Raft:ClusterId"] = "raft-queue-demo",
        ["Raft:ListenEndpoint"] = $"127.0.0.1:{basePort + id - 1}",
        ["Raft:DataDirectory"] = Path.Combine(data, $"node-{id}"),
        ["Raft:Groups:0"] = "1",
        // Snapshot (WorkQueue.Snapshot: items and sessions) every 200 applied commands, keeping 100 entries behind it.
        ["Raft:SnapshotEntries"] = "200",
        ["Raft:CompactionTrailing"] = "100",
    };
    foreach (var peer in ids.Where(p => p != id)) settings[$"Raft:Peers:{peer}"] = $"127.0.0.1:{basePort + peer - 1}";
    builder.Configuration.AddInMemoryCollection(settings);
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.Services.AddRaft<QueueCommand, QueueResult, WorkQueue>(builder.Configuration.GetSection("Raft"));
    hosts.Add(builder.Build());
}

var failed = false;
try
{
    foreach (var h in hosts) await h.StartAsync(stop.Token);
    var nodes = hosts.Select(h => h.Services.GetRequiredService<RaftNodeHost<QueueCommand, QueueResult>>()).ToArray();
    Console.WriteLine($"3 nodes on 127.0.0.1:{basePort}-{basePort + 2}, data in {data}");
    var leader = await nodes[0].GetGroup(1).WaitForLeaderAsync(TimeSpan.FromSeconds(30), stop.Token);
    Console.WriteLine($"leader elected: node {leader}; {producers} producers x {perProducer} items, {consumers} consumers");

    var total = producers * perProducer;
    var delivered = new ConcurrentBag<(string Consumer, QueueResult Result)>();
    var enqueued = 0;
    var clients = new List<QueueClient>();

    async Task Produce(int p)
    {
        var client = new QueueClient($"producer-{p}", nodes);
        lock (clients) clients.Add(client);
        for (var i = 1; i <= perProducer; i++)
        {
            await client.EnqueueAsync($"p{p}-{i:D4}", stop.Token);
            Interlocked.Increment(ref enqueued);
        }
    }

    async Task Consume(int c)
    {
        var client = new QueueClient($"consumer-{c}", nodes);
        lock (clients) clients.Add(client);
        while (delivered.Count < total)
        {
            var r = await client.DequeueAsync(stop.Token);
            if (r.Result.Item is not null) delivered.Add((client.ClientId, r.Result));
            else await Task.Delay(5, stop.Token); // empty: the producers are behind
        }
    }

    async Task MoveLeadershipHalfway()
    {
        while (Volatile.Read(ref enqueued) < total / 2) await Task.Delay(10, stop.Token);
        var from = nodes.Select(n => n.GetGroup(1)).FirstOrDefault(g => g.Status.IsLeader);
        if (from is null) return;
        var to = ids.First(i => i != from.NodeId);
        // Proposals on the old leader are refused or time out meanwhile; the clients resend them with the same numbers.
        try
        {
            await from.TransferLeadershipAsync(to, stop.Token);
            Console.WriteLine($"  after {Volatile.Read(ref enqueued)} enqueues: leadership moved from node {from.NodeId} to node {to}");
        }
        catch (Exception e) when (e is RaftException or RaftTimeoutException)
        {
            Console.WriteLine($"  leadership transfer to node {to} did not happen ({e.Message}); carrying on");
        }
    }

    var started = DateTime.UtcNow;
    await Task.WhenAll(Enumerable.Range(1, producers).Select(p => Task.Run(() => Produce(p)))
        .Concat(Enumerable.Range(1, consumers).Select(c => Task.Run(() => Consume(c))))
        .Append(MoveLeadershipHalfway()));
    var seconds = (DateTime.UtcNow - started).TotalSeconds;

    // Exactly once: every produced payload came out, none twice.
    var payloads = delivered.Select(x => x.Result.Item!.Payload).ToArray();
    var expected = Enumerable.Range(1, producers).SelectMany(p => Enumerable.Range(1, perProducer).Select(i => $"p{p}-{i:D4}")).ToHashSet();
    var exactlyOnce = payloads.Length == total && payloads.Distinct().Count() == total && expected.SetEquals(payloads);
    // In order: taken in the log order of the Dequeues, item ids (the log index of their Enqueue) only grow.
    var inLogOrder = delivered.OrderBy(x => x.Result.AppliedAt).Select(x => x.Result.Item!.Id).ToArray();
    var fifo = inLogOrder.Zip(inLogOrder.Skip(1)).All(pair => pair.First < pair.Second);
    var length = await clients[0].LengthAsync(stop.Token);
    Console.WriteLine($"  {total} items through the queue in {seconds:0.0}s; per consumer: " +
                      string.Join(", ", delivered.GroupBy(x => x.Consumer).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")));
    Console.WriteLine($"  requests resent after a leader change, refusal or timeout: {clients.Sum(c => c.Retries)}; queue length now {length}");
    Console.WriteLine($"  delivered exactly once: {(exactlyOnce ? "yes" : "NO")}; in enqueue order: {(fifo ? "yes" : "NO")}");
    failed = !exactlyOnce || !fifo || length != 0;
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
return failed ? 1 : 0;

long ArgValue(string name, long fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && long.TryParse(args[i + 1], out var v) ? v : fallback;
}
