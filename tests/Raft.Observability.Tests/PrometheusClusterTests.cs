using Xunit;

namespace Raft.Observability.Tests;

/// <summary>A real 3-node cluster (Raft.ClusterNode processes, TCP on loopback, data on disk, /metrics over HTTP) scraped
/// every second by a real Prometheus; load, a SIGKILL of the leader, and the operator's queries and dashboards.</summary>
public sealed class PrometheusClusterTests : IDisposable
{
    private static readonly TimeSpan DataTimeout = TimeSpan.FromSeconds(45);
    private readonly string _dir = Directory.CreateTempSubdirectory("raft-prometheus-").FullName;
    private readonly List<NodeProcess> _nodes = new();
    private PrometheusServer? _prometheus;
    private readonly CancellationTokenSource _stopLoad = new();

    /// <summary>The operator's questions, each a query that must return a series with a finite value it accepts.</summary>
    public static readonly (string What, string Query, Func<double, bool> Accept)[] OperatorQueries =
    [
        ("leader changes", "sum(increase(raft_leader_changes_total[2m]))", v => v > 0),
        // Counters start at the first election, before the first scrape: count the nodes that ever won instead of an increase.
        ("elections won by the first and the second leader", "count(max_over_time(raft_elections_won_total[5m]) > 0)", v => v >= 2),
        ("commit rate", "sum(rate(raft_entries_applied_total[30s]))", v => v > 0),
        ("p99 proposal-to-commit latency", "histogram_quantile(0.99, sum by (le) (rate(raft_proposal_commit_duration_seconds_bucket[30s])))", v => v > 0 && v < 10),
        ("p99 fdatasync", "histogram_quantile(0.99, sum by (le) (rate(raft_log_sync_duration_seconds_bucket[30s])))", v => v > 0 && v < 10),
        ("p99 proposal-to-persisted latency", "histogram_quantile(0.99, sum by (le) (rate(raft_proposal_persist_duration_seconds_bucket[30s])))", v => v > 0 && v < 10),
        ("peer round-trip time", "max(histogram_quantile(0.99, sum by (le, raft_node, raft_peer) (rate(raft_peer_round_trip_duration_seconds_bucket[1m]))))", v => v > 0 && v < 2),
        ("bytes sent per peer", "count(rate(raft_transport_peer_bytes_total{network_io_direction=\"transmit\"}[30s]) > 0)", v => v >= 2),
        ("open connections", "min(raft_transport_connections_open)", v => v >= 1),
        ("follower lag", "max(raft_replication_follower_lag_max)", v => v >= 0),
        ("transport reconnects (the killed node came back)", "sum(increase(raft_transport_reconnects_total[2m]))", v => v > 0),
    ];

    [Fact]
    public async Task Prometheus_scrapes_a_three_node_cluster_through_a_leader_kill()
    {
        // Fail (never skip) when the real parts are missing.
        PrometheusServer.Executable("prometheus");
        PrometheusServer.Executable("promtool");
        Assert.True(File.Exists(Support.ClusterNodeDll), $"{Support.ClusterNodeDll} is not built");

        var ports = Support.FreePorts(7);
        var raftPorts = ports[..3];
        var httpPorts = ports[3..6];
        var endpoints = Enumerable.Range(0, 3).Select(i => $"{i + 1}=127.0.0.1:{raftPorts[i]}").ToArray();
        NodeProcess Start(int i) => new(i + 1, httpPorts[i], Path.Combine(_dir, $"node-{i + 1}"), endpoints);
        for (var i = 0; i < 3; i++) _nodes.Add(Start(i));
        await WithTimeout(Task.WhenAll(_nodes.Select(n => n.Ready)), TimeSpan.FromSeconds(60), "nodes ready");

        _prometheus = new PrometheusServer(_dir, ports[6], httpPorts.Select(p => $"127.0.0.1:{p}"));
        var config = await PrometheusServer.Promtool(null, "check", "config", _prometheus.ConfigFile);
        Assert.True(config.Code == 0, "promtool check config: " + config.Output);
        await _prometheus.WaitReady(TimeSpan.FromSeconds(30));

        var firstLeader = await Leader(_nodes);
        long acked = 0;
        var load = Task.Run(() => Load(() => _nodes.Where(n => n.Alive).ToArray(), () => Interlocked.Increment(ref acked)));
        await Support.Eventually("100 commands acknowledged", TimeSpan.FromSeconds(30), () => Task.FromResult(Interlocked.Read(ref acked) >= 100 ? "" : null));

        // Prometheus has scraped every node a few times before the kill, so the kill shows as increases and rates.
        await _prometheus.WaitForData("min(count_over_time(up{job=\"raft\"}[1m])) and on() count(up{job=\"raft\"} == 1) == 3", DataTimeout, v => v >= 3);

        // SIGKILL the leader; the other two elect a new one and go on taking commands; the dead node comes back.
        firstLeader.Kill();
        var killedIndex = _nodes.IndexOf(firstLeader);
        var secondLeader = await Leader(_nodes.Where(n => n != firstLeader).ToList());
        Assert.NotEqual(firstLeader.Id, secondLeader.Id);
        var before = Interlocked.Read(ref acked);
        await Support.Eventually("100 more commands acknowledged after the kill", TimeSpan.FromSeconds(30),
            () => Task.FromResult(Interlocked.Read(ref acked) >= before + 100 ? "" : null));
        _nodes[killedIndex] = Start(killedIndex);
        await WithTimeout(_nodes[killedIndex].Ready, TimeSpan.FromSeconds(60), "killed node ready again");

        // The exposition text of every node is clean for promtool (asserted at the end, so one run shows every problem).
        var lintFailures = new List<string>();
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) })
            foreach (var node in _nodes)
            {
                var text = await http.GetStringAsync($"http://127.0.0.1:{node.HttpPort}/metrics");
                Assert.Contains("raft_", text);
                var lint = await PrometheusServer.Promtool(text, "check", "metrics");
                if (lint.Code != 0 || lint.Output.Trim().Length != 0) lintFailures.Add($"node {node.Id}: {lint.Output}");
            }

        // The status document and the health endpoints of every node, the restarted one too.
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) })
            foreach (var node in _nodes)
            {
                var status = await Support.Eventually($"node {node.Id} /raft/status with a known leader", DataTimeout, async () =>
                {
                    using var doc = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{node.HttpPort}/raft/status"));
                    var group = doc.RootElement.GetProperty("groups")[0];
                    return doc.RootElement.GetProperty("nodeId").GetInt64() == node.Id && group.GetProperty("leader").GetInt64() != 0
                        ? group.GetProperty("role").GetString() : null;
                });
                Assert.Contains(status, new[] { "Leader", "Follower" });
                await Support.Eventually($"node {node.Id} /alive and /health 200", DataTimeout, async () =>
                {
                    using var alive = await http.GetAsync($"http://127.0.0.1:{node.HttpPort}/alive");
                    using var ready = await http.GetAsync($"http://127.0.0.1:{node.HttpPort}/health");
                    return alive.IsSuccessStatusCode && ready.IsSuccessStatusCode ? "" : null;
                });
            }

        // Every node is scraped (the restarted one too).
        await _prometheus.WaitForData("sum(up{job=\"raft\"})", DataTimeout, v => v == 3);
        foreach (var (what, query, accept) in OperatorQueries)
            await _prometheus.WaitForData(query, DataTimeout, accept);

        // Every dashboard panel's query returns data from the same Prometheus.
        var panels = Dashboards.Queries("cluster-overview.json").Concat(Dashboards.Queries("group-detail.json")).ToList();
        Assert.True(panels.Count >= 10, $"only {panels.Count} panel queries");
        foreach (var panel in panels)
        {
            try { await _prometheus.WaitForData(panel.Expr, DataTimeout); }
            catch (TimeoutException e) { throw new Xunit.Sdk.XunitException($"{panel}: {e.Message}"); }
        }

        _stopLoad.Cancel();
        await load;
        Assert.True(lintFailures.Count == 0, "promtool check metrics: " + string.Join("\n", lintFailures));
    }

    /// <summary>Closed-loop load: one command at a time per node, round robin over the live nodes (a follower forwards
    /// to its leader), until the test ends.</summary>
    private async Task Load(Func<NodeProcess[]> live, Action ack)
    {
        long next = 0;
        var workers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            while (!_stopLoad.IsCancellationRequested)
            {
                var nodes = live();
                if (nodes.Length == 0) return;
                var n = Interlocked.Increment(ref next);
                var answer = await nodes[n % nodes.Length].Propose(n);
                if (answer.StartsWith("ack ")) ack();
                else await Task.Delay(20); // no leader yet: pace the retries
            }
        }));
        await Task.WhenAll(workers);
    }

    private static Task<NodeProcess> Leader(IReadOnlyList<NodeProcess> nodes) =>
        Support.Eventually("a leader among nodes " + string.Join(",", nodes.Select(n => n.Id)), TimeSpan.FromSeconds(30), async () =>
        {
            foreach (var n in nodes)
                if (await n.Role() == "Leader") return n;
            return null;
        });

    private async Task WithTimeout(Task task, TimeSpan timeout, string what)
    {
        if (await Task.WhenAny(task, Task.Delay(timeout)) != task)
            throw new TimeoutException($"{what}: not within {timeout.TotalSeconds:0} s\n" +
                                       string.Join("\n", _nodes.Select(n => $"node {n.Id}: {n.StderrTail}")));
        await task;
    }

    public void Dispose()
    {
        _stopLoad.Cancel();
        foreach (var n in _nodes) n.Dispose();
        _prometheus?.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
