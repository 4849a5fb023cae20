using System.Buffers;
using Raft.Serialization;

namespace Raft.Fuzz.Targets;

/// <summary>The MessagePack codecs: input <c>decoder u8 | bytes</c>, the first byte choosing the envelope batch, the
/// single envelope, a message, a stored entry, a stored entry's configuration, hard state or snapshot metadata.
/// What decodes must re-encode to bytes that decode to the same encoding again (the codecs are canonical).</summary>
internal static class CodecTarget
{
    private static readonly RaftMessageCodec<int> Messages = new();
    private static readonly RaftBatchCodec<int> Batches = new(Messages);
    private static readonly RaftEnvelopeCodec<int> Envelopes = new(Messages);

    public static readonly FuzzTarget Target = new(
        "codec", "RaftBatchCodec / RaftEnvelopeCodec / RaftMessageCodec / RaftStateCodec decode, re-encoded",
        Run, [typeof(RaftCodecException)], 8L << 20, Seeds);

    private delegate byte[] Decoder(ReadOnlyMemory<byte> bytes);

    private static readonly Decoder[] Decoders =
    [
        b => Encode(w => Batches.Encode(Batches.Decode(new ReadOnlySequence<byte>(b)), w)),
        b => Encode(w => Envelopes.Encode(Envelopes.Decode(new ReadOnlySequence<byte>(b)), w)),
        b => Encode(w => Messages.Serialize(w, Messages.Deserialize(b))),
        b => Messages.EncodeEntry(Messages.DecodeEntry(b)),
        b => RaftMessageCodec<int>.ReadConfigOrNull(b) is { } m ? Messages.EncodeEntry(new Core.Entry<int>(1, 1, Core.Payload<int>.NewConfig(m), 0)) : [],
        b => RaftStateCodec.EncodeHardState(RaftStateCodec.DecodeHardState(b)),
        b => RaftStateCodec.EncodeSnapshotMeta(RaftStateCodec.DecodeSnapshotMeta(b)),
    ];

    private static byte[] Encode(Action<IBufferWriter<byte>> write)
    {
        var output = new ArrayBufferWriter<byte>(256);
        write(output);
        return output.WrittenSpan.ToArray();
    }

    private static void Run(byte[] input)
    {
        if (input.Length == 0) return;
        var decode = Decoders[input[0] % Decoders.Length];
        var once = decode(input.AsMemory(1));
        if (input[0] % Decoders.Length == 4) return; // the config probe re-encodes as an entry, not as its input
        byte[] twice;
        try { twice = decode(once); }
        catch (RaftCodecException ex) { throw new FuzzViolation($"a re-encoded value does not decode: {ex.Message}", ex); }
        if (!once.AsSpan().SequenceEqual(twice)) throw new FuzzViolation("a decoded value re-encodes differently the second time");
    }

    private static IEnumerable<(string, byte[])> Seeds()
    {
        foreach (var (name, batch) in Samples.Batches())
            yield return (name, [0, .. Encode(w => Batches.Encode(batch, w))]);
        foreach (var (name, message) in Samples.Messages())
        {
            yield return ($"envelope-{name}", [1, .. Encode(w => Envelopes.Encode(new RaftEnvelope<int>(4, message), w))]);
            yield return ($"message-{name}", [2, .. Encode(w => Messages.Serialize(w, message))]);
        }
        foreach (var (name, entry) in Samples.Entries())
        {
            yield return ($"entry-{name}", [3, .. Messages.EncodeEntry(entry)]);
            yield return ($"entry-config-probe-{name}", [4, .. Messages.EncodeEntry(entry)]);
        }
        yield return ("hardstate", [5, .. RaftStateCodec.EncodeHardState(Samples.Hard)]);
        yield return ("snapshot-meta", [6, .. RaftStateCodec.EncodeSnapshotMeta(Samples.Meta)]);
    }
}
