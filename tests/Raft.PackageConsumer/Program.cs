// A C# service that references the Raft package: one node in the generic host, a counter state machine, three
// proposals and a linearizable read. Prints "counter = 3 at index N" and exits 0 when everything worked.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Raft.Hosting;
using Raft.Node;

var data = Path.Combine(Path.GetTempPath(), $"raft-consumer-{Guid.NewGuid():N}");
var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddRaft<string, long, Counter>(o =>
{
    o.NodeId = 1;
    o.ClusterId = "package-consumer";
    o.ListenEndpoint = "127.0.0.1:0";
    o.DataDirectory = data;
});
using var host = builder.Build();
using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
try
{
    await host.StartAsync(deadline.Token);
    var group = host.Services.GetRequiredService<RaftNodeHost<string, long>>().GetGroup(1);
    await group.WaitForLeaderAsync(TimeSpan.FromSeconds(30), deadline.Token);
    ProposeResult<long> last = default!;
    foreach (var command in new[] { "a", "b", "c" }) last = await group.ProposeAsync(command, deadline.Token);
    var value = await group.QueryAsync((Counter counter) => counter.Value, deadline.Token);
    Console.WriteLine($"counter = {value} at index {last.Index}");
    await host.StopAsync(deadline.Token);
    return value == 3 && last.Result == 3 ? 0 : 1;
}
finally
{
    if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
}

sealed class Counter : IStateMachine<string, long>
{
    public long Value { get; private set; }
    public long Apply(long index, long term, string command) => ++Value;
    public void Snapshot(Stream output) => new BinaryWriter(output).Write(Value);
    public void Restore(Stream input) => Value = new BinaryReader(input).ReadInt64();
}
