using System.Buffers;
using MessagePack;
using Raft.Transport;

namespace Raft.Serialization;

/// <summary>
/// The frame payload of the Raft transport: several envelopes, possibly of different groups, in one frame.
/// Wire shape: <c>[version, [[groupId, message] | [groupId, nil, hostMessage], ...]]</c>. Used as the transport's <see cref="IFrameCodec{TMessage}"/>
/// with <c>TMessage = RaftEnvelope&lt;T&gt;[]</c>, so the host can hand all messages for one peer from one loop
/// iteration to the transport at once.
/// </summary>
public sealed class RaftBatchCodec<T> : IFrameCodec<RaftEnvelope<T>[]>
{
    /// <summary>Creates the codec over a message codec (which holds the user's MessagePack options).</summary>
    public RaftBatchCodec(RaftMessageCodec<T> messages)
    {
        Messages = messages;
        _host = new HostMessageCodec<T>(messages.Options);
    }

    private readonly HostMessageCodec<T> _host;

    /// <summary>The default <see cref="MaxEnvelopes"/>: 65,536.</summary>
    public const int DefaultMaxEnvelopes = 1 << 16;

    /// <summary>The most envelopes one batch may hold (default <see cref="DefaultMaxEnvelopes"/>). Decoding refuses a
    /// batch claiming more before allocating anything for it: bounded only by the frame's bytes, a 16 MiB frame could
    /// claim millions of envelopes and cost hundreds of MiB. Encoding refuses more too (the transport then drops the
    /// batch as it drops an oversized frame), so a sender never writes a batch its peers refuse.</summary>
    public int MaxEnvelopes { get; init; } = DefaultMaxEnvelopes;

    /// <summary>The codec for individual messages.</summary>
    public RaftMessageCodec<T> Messages { get; }

    /// <inheritdoc/>
    public void Encode(RaftEnvelope<T>[] message, IBufferWriter<byte> output) => Encode(message.AsSpan(), output);

    /// <summary>Encodes a batch of envelopes as one frame payload.</summary>
    /// <exception cref="RaftCodecException">The batch holds more than <see cref="MaxEnvelopes"/> envelopes, or a user payload failed to encode.</exception>
    public void Encode(ReadOnlySpan<RaftEnvelope<T>> batch, IBufferWriter<byte> output)
    {
        if (batch.Length > MaxEnvelopes)
            throw new RaftCodecException(RaftCodecError.PayloadEncodeFailed, $"a batch of {batch.Length} envelopes is over MaxEnvelopes ({MaxEnvelopes})");
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(2);
        writer.Write(WireFormat.Version);
        writer.WriteArrayHeader(batch.Length);
        foreach (var envelope in batch)
        {
            if (envelope.Host is { } host)
            {
                writer.WriteArrayHeader(3);
                writer.Write(envelope.GroupId);
                writer.WriteNil();
                _host.Write(ref writer, host);
                continue;
            }
            writer.WriteArrayHeader(2);
            writer.Write(envelope.GroupId);
            Messages.WriteMessage(ref writer, envelope.Message);
        }
        writer.Flush();
    }

    /// <inheritdoc/>
    /// <exception cref="RaftCodecException">The payload is truncated, of an unknown version, malformed, claims more than
    /// <see cref="MaxEnvelopes"/> envelopes, or a user payload failed to decode.</exception>
    public RaftEnvelope<T>[] Decode(ReadOnlySequence<byte> payload)
    {
        try
        {
            var reader = new MessagePackReader(payload);
            var n = Records.ReadHeader(ref reader, 2, "batch");
            Records.ReadVersion(ref reader, "batch");
            var count = Records.ReadCount(ref reader, "batch");
            if (count > MaxEnvelopes)
                throw new RaftCodecException(RaftCodecError.Malformed, $"batch claims {count} envelopes, over MaxEnvelopes ({MaxEnvelopes})");
            var batch = count == 0 ? [] : new RaftEnvelope<T>[count];
            for (var i = 0; i < count; i++)
            {
                var e = Records.ReadHeader(ref reader, 2, "envelope");
                var group = reader.ReadInt64();
                if (reader.TryReadNil())
                {
                    if (e < 3) throw new RaftCodecException(RaftCodecError.Malformed, "envelope has neither a message nor a host message");
                    batch[i] = RaftEnvelope<T>.ForHost(group, _host.Read(ref reader));
                    Records.SkipRest(ref reader, e, 3);
                    continue;
                }
                batch[i] = new RaftEnvelope<T>(group, Messages.ReadMessage(ref reader));
                Records.SkipRest(ref reader, e, 2);
            }
            Records.SkipRest(ref reader, n, 2);
            Records.ExpectEnd(ref reader, "batch");
            return batch;
        }
        catch (Exception ex) { throw Records.Wrap(ex, "batch"); }
    }
}

/// <summary>
/// The same wire shape as <see cref="RaftBatchCodec{T}"/> with one envelope per frame, for hosts that send
/// envelopes one at a time (the TCP transport still coalesces frames into few socket writes).
/// Decoding accepts a batch of exactly one envelope.
/// </summary>
public sealed class RaftEnvelopeCodec<T> : IFrameCodec<RaftEnvelope<T>>
{
    private readonly RaftBatchCodec<T> _batch;

    /// <summary>Creates the codec over a message codec (which holds the user's MessagePack options).</summary>
    public RaftEnvelopeCodec(RaftMessageCodec<T> messages) => _batch = new RaftBatchCodec<T>(messages);

    /// <inheritdoc/>
    public void Encode(RaftEnvelope<T> message, IBufferWriter<byte> output) =>
        _batch.Encode(new ReadOnlySpan<RaftEnvelope<T>>(in message), output);

    /// <inheritdoc/>
    public RaftEnvelope<T> Decode(ReadOnlySequence<byte> payload)
    {
        var batch = _batch.Decode(payload);
        return batch.Length == 1
            ? batch[0]
            : throw new RaftCodecException(RaftCodecError.Malformed, $"expected one envelope, got {batch.Length}");
    }
}
