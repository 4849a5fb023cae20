// One node in the generic host, a counter state machine, three proposals and a linearizable read.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Raft.Hosting;
using Raft.Node;
using static Checks;

public static class NodeCheck
{
    public static async Task<string> Run()
    {
        var data = Path.Combine(Path.GetTempPath(), $"raft-consumer-{Guid.NewGuid():N}");
        var builder = Host.CreateApplicationBuilder();
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
            await host.StopAsync(deadline.Token);
            Expect(value == 3 && last.Result == 3, $"counter 3, got {value} (result {last.Result})");
            return $"counter = {value} at index {last.Index}";
        }
        finally
        {
            if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        }
    }

    sealed class Counter : IStateMachine<string, long>
    {
        public long Value { get; private set; }
        public long Apply(long index, long term, string command) => ++Value;
        public void Snapshot(Stream output) => new BinaryWriter(output).Write(Value);
        public void Restore(Stream input) => Value = new BinaryReader(input).ReadInt64();
    }
}
