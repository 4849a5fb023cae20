// Raft.Tui: a chaos terminal UI for the example servers. Polls every node's /raft/status, draws the cluster live, and
// sends the chaos admin requests bound to keys (kill the leader, pause, partition, reset, membership, ...).
//
//   dotnet run --project examples/Raft.Tui -- --nodes http://127.0.0.1:8101,http://127.0.0.1:8102,http://127.0.0.1:8103 \
//       --token "$(cat /tmp/raft-kv-cluster/chaos-token)" --start "scripts/kv-cluster.sh start-node {id}"
using Raft.Tui;

var (options, error) = TuiOptions.Parse(args);
if (options is null)
{
    Console.Error.WriteLine(error);
    Console.Error.WriteLine(TuiOptions.Usage);
    return 2;
}
if (Console.IsInputRedirected)
{
    Console.Error.WriteLine("Raft.Tui reads keys from a terminal; its input is redirected");
    return 2;
}
await new TuiApp(options).RunAsync();
return 0;
