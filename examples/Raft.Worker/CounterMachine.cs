using Raft.Node;

namespace Raft.Worker;

/// <summary>The replicated state: named counters. A command is the name of the counter to increment; the result is
/// its new value. Runs on the node's loop thread, so it needs no locks.</summary>
public sealed class CounterMachine : IStateMachine<string, object?>
{
    private readonly Dictionary<string, long> _counters = new();

    public object? Apply(long index, long term, string command)
    {
        _counters.TryGetValue(command, out var value);
        _counters[command] = ++value;
        return value;
    }

    public long Get(string name) => _counters.GetValueOrDefault(name);

    public void Snapshot(Stream output)
    {
        using var w = new BinaryWriter(output, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(_counters.Count);
        foreach (var (k, v) in _counters) { w.Write(k); w.Write(v); }
    }

    public void Restore(Stream input)
    {
        using var r = new BinaryReader(input);
        _counters.Clear();
        for (int i = 0, n = r.ReadInt32(); i < n; i++) _counters[r.ReadString()] = r.ReadInt64();
    }
}
