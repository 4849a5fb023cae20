using Raft.Simulation;

namespace Raft.Testing;

/// <summary>What a simulated node's state machine returned when the user's <c>Apply</c> threw: production reports
/// the exception to the proposer and moves on, so the simulator does the same (the outcome counts as unknown).</summary>
/// <param name="Error">The exception's message.</param>
internal sealed record ApplyFailure(string Error);

/// <summary>
/// The user's production state machine as one simulated node runs it. Nodes with odd ids apply the command object
/// the client proposed (as the leader that accepted a proposal does, from its memory); nodes with even ids decode
/// the command from its bytes with the user's serializer (as followers and restarted nodes do), so a serializer
/// that loses information makes the nodes disagree. Snapshots go through the user's <c>Snapshot</c>/<c>Restore</c>
/// streams. The simulator compares the state digests of nodes at the same index: the snapshot bytes at sampled
/// indexes, or the user's fingerprint at every index.
/// </summary>
internal sealed class MachineAdapter<TCommand, TResult> : Raft.Simulation.IStateMachine<EncodedCommand<TCommand>>
{
    private readonly Raft.Node.IStateMachine<TCommand, TResult> _machine;
    private readonly CommandCodec<TCommand> _codec;
    private readonly Func<Raft.Node.IStateMachine<TCommand, TResult>, ulong>? _fingerprint;
    private readonly DeterminismProbe _probe;
    private readonly int _node;
    private readonly bool _decodes;
    private readonly MemoryStream _buffer = new();

    public MachineAdapter(int node, Raft.Node.IStateMachine<TCommand, TResult> machine, CommandCodec<TCommand> codec,
        Func<Raft.Node.IStateMachine<TCommand, TResult>, ulong>? fingerprint, DeterminismProbe probe)
    {
        _node = node;
        _machine = machine;
        _codec = codec;
        _fingerprint = fingerprint;
        _probe = probe;
        _decodes = node % 2 == 0;
    }

    /// <summary>The user's state machine (reads are answered from it).</summary>
    public Raft.Node.IStateMachine<TCommand, TResult> Machine => _machine;

    public object? Apply(long index, long term, EncodedCommand<TCommand> command)
    {
        TCommand c;
        if (_decodes)
        {
            try { c = _codec.Decode(command.Bytes); }
            catch (Exception e)
            {
                throw new PropertyViolationException(CommandCodec<TCommand>.Property,
                    $"node {_node} cannot decode the command {command.Original} at index {index}: {(e.InnerException ?? e).Message}");
            }
        }
        else c = command.Original;
        try { return _machine.Apply(index, term, c); }
        catch (Exception e) { return new ApplyFailure(e.Message); }
    }

    public ulong Fingerprint(long index)
    {
        if (_fingerprint is not null)
        {
            var f = StateDigest.NonZero(_fingerprint(_machine));
            _probe.Observe(_node, index, f, null);
            return f;
        }
        if (index % _probe.Interval != 0) return 0;
        _buffer.SetLength(0);
        _machine.Snapshot(_buffer);
        var bytes = _buffer.GetBuffer().AsSpan(0, (int)_buffer.Length);
        var digest = StateDigest.Of(bytes);
        _probe.Observe(_node, index, digest, _probe.Tracking ? bytes.ToArray() : null);
        return digest;
    }

    public byte[] Snapshot()
    {
        using var output = new MemoryStream();
        _machine.Snapshot(output);
        return output.ToArray();
    }

    public void Restore(byte[] snapshot)
    {
        using var input = new MemoryStream(snapshot, writable: false);
        _machine.Restore(input);
    }
}
