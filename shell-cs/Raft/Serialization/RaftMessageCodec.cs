using System.Buffers;
using MessagePack;
using MessagePack.Formatters;
using Raft.Core;

namespace Raft.Serialization;

/// <summary>
/// Hand-written, versioned MessagePack encoding of the core's <see cref="Message{T}"/> and <see cref="Entry{T}"/>.
/// The Raft structure is encoded by this class; the user's command <typeparamref name="T"/> is encoded inline with
/// the caller's <see cref="MessagePackSerializerOptions"/> (the user's resolver).
/// </summary>
/// <remarks>
/// Wire shapes (all MessagePack arrays, see <see cref="WireFormat"/>):
/// <c>Message = [from, to, term, body]</c>, <c>body = [kind, fields...]</c>,
/// <c>Entry = [index, term, size, payload]</c>, <c>payload = [0] | [1, T] | [2, membership]</c>.
/// Every decode failure, including one raised by the user's formatter, surfaces as <see cref="RaftCodecException"/>.
/// The instance is immutable and thread-safe.
/// </remarks>
public sealed partial class RaftMessageCodec<T>
{
    private readonly IMessagePackFormatter<T> _payload;

    /// <summary>Creates a codec that encodes payloads with <paramref name="options"/> (default: <see cref="MessagePackSerializerOptions.Standard"/>).</summary>
    /// <exception cref="FormatterNotRegisteredException">The options' resolver has no formatter for <typeparamref name="T"/>.</exception>
    public RaftMessageCodec(MessagePackSerializerOptions? options = null)
    {
        Options = options ?? MessagePackSerializerOptions.Standard;
        _payload = Options.Resolver.GetFormatterWithVerify<T>();
        _writeMessage = WriteMessage;
        _readMessage = ReadMessage;
        _writeEntry = WriteEntry;
        _readEntry = ReadEntry;
    }

    // Bodies as delegates, made once: decoding runs for every received message.
    private readonly Records.BodyWriter<Message<T>> _writeMessage;
    private readonly Records.BodyReader<Message<T>> _readMessage;
    private readonly Records.BodyWriter<Entry<T>> _writeEntry;
    private readonly Records.BodyReader<Entry<T>> _readEntry;

    /// <summary>The options used for the user's payload.</summary>
    public MessagePackSerializerOptions Options { get; }

    /// <summary>Writes <c>[version, message]</c>.</summary>
    public void Serialize(IBufferWriter<byte> output, Message<T> message) =>
        Records.WriteVersioned(output, message, _writeMessage);

    /// <summary>Decodes bytes written by <see cref="Serialize"/>.</summary>
    /// <exception cref="RaftCodecException">The bytes are truncated, of an unknown version, malformed, or the payload failed to decode.</exception>
    public Message<T> Deserialize(ReadOnlySequence<byte> bytes) => Records.ReadVersioned(bytes, "Message", _readMessage);

    /// <inheritdoc cref="Deserialize(ReadOnlySequence{byte})"/>
    public Message<T> Deserialize(ReadOnlyMemory<byte> bytes) => Deserialize(new ReadOnlySequence<byte>(bytes));

    /// <summary>Writes <c>[version, entry]</c>: the storage layer's record payload for one log entry.</summary>
    public void WriteEntry(IBufferWriter<byte> output, Entry<T> entry) => Records.WriteVersioned(output, entry, _writeEntry);

    /// <summary>Encodes one entry as a new byte array (see <see cref="WriteEntry(IBufferWriter{byte}, Entry{T})"/> to avoid the copy).</summary>
    public byte[] EncodeEntry(Entry<T> entry) => Records.Encode(entry, WriteEntry, 64);

    /// <summary>Decodes bytes written by <see cref="WriteEntry(IBufferWriter{byte}, Entry{T})"/>.</summary>
    /// <exception cref="RaftCodecException">The bytes are truncated, of an unknown version, malformed, or the payload failed to decode.</exception>
    public Entry<T> DecodeEntry(ReadOnlySequence<byte> bytes) => Records.ReadVersioned(bytes, "stored Entry", _readEntry);

    /// <inheritdoc cref="DecodeEntry(ReadOnlySequence{byte})"/>
    public Entry<T> DecodeEntry(ReadOnlyMemory<byte> bytes) => DecodeEntry(new ReadOnlySequence<byte>(bytes));

    /// <summary>The membership of a stored entry (bytes written by <see cref="WriteEntry(IBufferWriter{byte}, Entry{T})"/>)
    /// when it is a configuration entry, otherwise null. The user's payload is skipped, not decoded, so a restart can
    /// find the log's configuration entries without deserializing every command.</summary>
    /// <exception cref="RaftCodecException">The bytes are truncated, of an unknown version or malformed.</exception>
    public static Membership? ReadConfigOrNull(ReadOnlyMemory<byte> bytes) =>
        Records.ReadVersioned(new ReadOnlySequence<byte>(bytes), "stored Entry", ReadEntryConfig);

    private static Membership? ReadEntryConfig(ref MessagePackReader reader)
    {
        var n = Records.ReadHeader(ref reader, 4, "Entry");
        var index = reader.ReadInt64();
        reader.Skip(); // term
        reader.Skip(); // size
        var p = Records.ReadHeader(ref reader, 1, "Payload");
        Membership? config = null;
        var kind = reader.ReadByte();
        if (kind == WireFormat.Payload.Config)
        {
            if (p < 2) throw new RaftCodecException(RaftCodecError.Malformed, $"entry {index}: config payload without a membership");
            config = CoreFormatters.ReadMembership(ref reader);
            Records.SkipRest(ref reader, p, 2);
        }
        else Records.SkipRest(ref reader, p, 1);
        Records.SkipRest(ref reader, n, 4);
        return config;
    }

    /// <summary>Writes a message without a version prefix (for composite encodings such as envelopes).</summary>
    internal void WriteMessage(ref MessagePackWriter writer, Message<T> message)
    {
        writer.WriteArrayHeader(4);
        writer.Write(message.From);
        writer.Write(message.To);
        writer.Write(message.Term);
        WriteBody(ref writer, message.Body);
    }

    /// <summary>Reads a message written by <see cref="WriteMessage"/>; may throw raw MessagePack exceptions (callers wrap).</summary>
    internal Message<T> ReadMessage(ref MessagePackReader reader)
    {
        var n = Records.ReadHeader(ref reader, 4, "Message");
        var from = reader.ReadInt64();
        var to = reader.ReadInt64();
        var term = reader.ReadInt64();
        var body = ReadBody(ref reader);
        Records.SkipRest(ref reader, n, 4);
        return new Message<T>(from, to, term, body);
    }

    internal void WriteEntry(ref MessagePackWriter writer, Entry<T> entry)
    {
        writer.WriteArrayHeader(4);
        writer.Write(entry.Index);
        writer.Write(entry.Term);
        writer.Write(entry.Size);
        var payload = entry.Payload;
        switch (payload.Tag)
        {
            case Payload<T>.Tags.Noop:
                writer.WriteArrayHeader(1);
                writer.Write(WireFormat.Payload.Noop);
                break;
            case Payload<T>.Tags.Command:
                writer.WriteArrayHeader(2);
                writer.Write(WireFormat.Payload.Command);
                try { _payload.Serialize(ref writer, ((Payload<T>.Command)payload).Item, Options); }
                catch (Exception ex) { throw new RaftCodecException(RaftCodecError.PayloadEncodeFailed, $"entry {entry.Index}: {ex.Message}", ex); }
                break;
            case Payload<T>.Tags.Config:
                writer.WriteArrayHeader(2);
                writer.Write(WireFormat.Payload.Config);
                CoreFormatters.WriteMembership(ref writer, ((Payload<T>.Config)payload).Item);
                break;
            default:
                throw new InvalidOperationException($"unknown Payload case {payload.Tag}: update RaftMessageCodec");
        }
    }

    internal Entry<T> ReadEntry(ref MessagePackReader reader)
    {
        var n = Records.ReadHeader(ref reader, 4, "Entry");
        var index = reader.ReadInt64();
        var term = reader.ReadInt64();
        var size = reader.ReadInt32();
        var p = Records.ReadHeader(ref reader, 1, "Payload");
        var kind = reader.ReadByte();
        Payload<T> payload;
        switch (kind)
        {
            case WireFormat.Payload.Noop:
                payload = Payload<T>.Noop;
                Records.SkipRest(ref reader, p, 1);
                break;
            case WireFormat.Payload.Command:
                if (p < 2) throw new RaftCodecException(RaftCodecError.Malformed, $"entry {index}: command payload without a value");
                payload = Payload<T>.NewCommand(ReadPayload(ref reader, index));
                Records.SkipRest(ref reader, p, 2);
                break;
            case WireFormat.Payload.Config:
                if (p < 2) throw new RaftCodecException(RaftCodecError.Malformed, $"entry {index}: config payload without a membership");
                payload = Payload<T>.NewConfig(CoreFormatters.ReadMembership(ref reader));
                Records.SkipRest(ref reader, p, 2);
                break;
            default:
                throw new RaftCodecException(RaftCodecError.UnknownKind, $"entry {index}: payload kind {kind}");
        }
        Records.SkipRest(ref reader, n, 4);
        return new Entry<T>(index, term, payload, size);
    }

    private T ReadPayload(ref MessagePackReader reader, long index)
    {
        // The user's formatter may throw anything on bad bytes; it is the one place where a failure
        // means "the user's data", not "the Raft structure", so it gets its own reason.
        try { return _payload.Deserialize(ref reader, Options); }
        catch (Exception ex) when (ex is not RaftCodecException and not EndOfStreamException)
        {
            throw new RaftCodecException(RaftCodecError.PayloadDecodeFailed, $"entry {index}: {ex.Message}", ex);
        }
    }
}
