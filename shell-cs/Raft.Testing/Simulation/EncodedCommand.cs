namespace Raft.Testing;

/// <summary>
/// A command as the simulated cluster carries it: the bytes the user's MessagePack serializer made of it (what a
/// production log and network hold) and the object the client proposed. Equal when the bytes are equal, so the
/// simulator's log checks compare what production would compare.
/// </summary>
/// <typeparam name="TCommand">The user's command type.</typeparam>
internal sealed class EncodedCommand<TCommand> : IEquatable<EncodedCommand<TCommand>>
{
    internal EncodedCommand(TCommand original, byte[] bytes, long sequence)
    {
        Original = original;
        Bytes = bytes;
        Sequence = sequence;
    }

    /// <summary>The object the client proposed (what the node that accepted the proposal applies).</summary>
    public TCommand Original { get; }

    /// <summary>The serialized command (what every other node decodes and applies).</summary>
    public byte[] Bytes { get; }

    /// <summary>The run's sequence number of the command (unique within a seed).</summary>
    public long Sequence { get; }

    /// <inheritdoc/>
    public bool Equals(EncodedCommand<TCommand>? other) =>
        other is not null && (ReferenceEquals(this, other) || Bytes.AsSpan().SequenceEqual(other.Bytes));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as EncodedCommand<TCommand>);

    /// <inheritdoc/>
    public override int GetHashCode() => (int)StateDigest.Of(Bytes);

    /// <inheritdoc/>
    public override string ToString() => $"#{Sequence} {Original}";
}
