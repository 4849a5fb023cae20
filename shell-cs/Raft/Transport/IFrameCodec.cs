using System.Buffers;

namespace Raft.Transport;

/// <summary>Turns one message into the payload of one frame and back.</summary>
/// <remarks>Implementations must be thread-safe: a transport encodes on several peer loops at once.</remarks>
public interface IFrameCodec<TMessage>
{
    /// <summary>Appends the encoding of <paramref name="message"/> to <paramref name="output"/>.</summary>
    void Encode(TMessage message, IBufferWriter<byte> output);

    /// <summary>Decodes one frame payload; the whole sequence belongs to one message.</summary>
    /// <exception cref="Raft.Serialization.RaftCodecException">The payload is garbage; the transport treats the frame as bad.</exception>
    TMessage Decode(ReadOnlySequence<byte> payload);
}
