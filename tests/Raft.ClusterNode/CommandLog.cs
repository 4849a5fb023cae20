using Raft.Node;

namespace Raft.ClusterNode;

/// <summary>The replicated state of the test cluster: every applied command id with the index it was applied at, in
/// apply order. Duplicates are kept (a command applied twice must show up twice), so the test can check exactly-once.</summary>
public sealed class CommandLog
{
    private readonly List<(long Index, long Command)> _applied = new();

    /// <summary>Appends one applied command; returns how many commands are applied.</summary>
    public long Add(long index, long command)
    {
        lock (_applied)
        {
            _applied.Add((index, command));
            return _applied.Count;
        }
    }

    /// <summary>A copy of everything applied, in order.</summary>
    public (long Index, long Command)[] ToArray()
    {
        lock (_applied) return _applied.ToArray();
    }

    /// <summary>Replaces the content (snapshot restore).</summary>
    public void Replace(IEnumerable<(long Index, long Command)> applied)
    {
        lock (_applied)
        {
            _applied.Clear();
            _applied.AddRange(applied);
        }
    }
}

/// <summary>The state machine of the test cluster's group: appends each command to the node's <see cref="CommandLog"/>
/// and returns the number of commands applied so far.</summary>
public sealed class CommandLogMachine(CommandLog log) : IStateMachine<long, long>
{
    /// <inheritdoc />
    public long Apply(long index, long term, long command) => log.Add(index, command);

    /// <inheritdoc />
    public void Snapshot(Stream output)
    {
        var applied = log.ToArray();
        using var w = new BinaryWriter(output, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(applied.Length);
        foreach (var (index, command) in applied)
        {
            w.Write(index);
            w.Write(command);
        }
    }

    /// <inheritdoc />
    public void Restore(Stream input)
    {
        using var r = new BinaryReader(input);
        var applied = new (long, long)[r.ReadInt32()];
        for (var i = 0; i < applied.Length; i++) applied[i] = (r.ReadInt64(), r.ReadInt64());
        log.Replace(applied);
    }
}
