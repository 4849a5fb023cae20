using MessagePack;
using Raft.Simulation;

namespace Raft.Testing;

/// <summary>
/// The user's MessagePack serializer applied to commands as production applies it, with the checks production
/// cannot make: a command must serialize to the same bytes twice, and decode to an equal command that serializes to
/// the same bytes again. A failed check stops the seed as a violation of "command serialization".
/// </summary>
internal sealed class CommandCodec<TCommand>(MessagePackSerializerOptions options)
{
    /// <summary>Whether <typeparamref name="TCommand"/> defines its own equality (records do): only then can a
    /// decoded command be compared with the original, beyond its bytes.</summary>
    private static readonly bool HasValueEquality =
        typeof(IEquatable<TCommand>).IsAssignableFrom(typeof(TCommand))
        || typeof(TCommand).GetMethod(nameof(Equals), [typeof(object)])?.DeclaringType != typeof(object);

    public const string Property = "command serialization";

    public byte[] Encode(TCommand command)
    {
        byte[] bytes, again, decodedBytes;
        TCommand decoded;
        try
        {
            bytes = MessagePackSerializer.Serialize(command, options);
            again = MessagePackSerializer.Serialize(command, options);
            decoded = MessagePackSerializer.Deserialize<TCommand>(bytes, options);
            decodedBytes = MessagePackSerializer.Serialize(decoded, options);
        }
        catch (Exception e) when (e is MessagePackSerializationException or InvalidOperationException or FormatException)
        {
            throw new PropertyViolationException(Property, $"the command {command} does not survive its serializer: {(e.InnerException ?? e).Message}");
        }
        if (!bytes.AsSpan().SequenceEqual(again))
            throw new PropertyViolationException(Property,
                $"the command {command} serialized twice gives different bytes ({Hex(bytes)} vs {Hex(again)}): nodes would log different entries");
        if (HasValueEquality && !EqualityComparer<TCommand>.Default.Equals(command, decoded))
            throw new PropertyViolationException(Property,
                $"the command {command} comes back from its bytes ({Hex(bytes)}) as {decoded}: followers would apply a different command than the leader");
        if (!bytes.AsSpan().SequenceEqual(decodedBytes))
            throw new PropertyViolationException(Property,
                $"the command {command} decoded and serialized again gives different bytes ({Hex(bytes)} vs {Hex(decodedBytes)})");
        return bytes;
    }

    public TCommand Decode(byte[] bytes) => MessagePackSerializer.Deserialize<TCommand>(bytes, options);

    private static string Hex(byte[] bytes) =>
        bytes.Length <= 48 ? Convert.ToHexString(bytes) : Convert.ToHexString(bytes, 0, 48) + $"... ({bytes.Length} bytes)";
}
