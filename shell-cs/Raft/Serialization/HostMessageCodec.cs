using MessagePack;
using MessagePack.Formatters;

namespace Raft.Serialization;

/// <summary>
/// Encoding of the host's own messages between nodes (proposal forwarding), carried in the same frames as Raft
/// messages (see <see cref="RaftBatchCodec{T}"/>): <c>[1, requestId, [command...], [traceparent | nil...] | nil]</c> for forwarded proposals and
/// <c>[2, requestId, slot, status, index, term, result | nil, error | nil, leaderHint]</c> for their outcomes.
/// Commands are encoded with the user's MessagePack options. Immutable and thread-safe.
/// </summary>
internal sealed class HostMessageCodec<T>
{
    private readonly IMessagePackFormatter<T> _payload;

    public HostMessageCodec(MessagePackSerializerOptions options)
    {
        Options = options;
        _payload = options.Resolver.GetFormatterWithVerify<T>();
    }

    public MessagePackSerializerOptions Options { get; }

    private const byte ForwardedProposalsKind = 1, ForwardedOutcomeKind = 2;

    public void Write(ref MessagePackWriter writer, HostMessage<T> message)
    {
        switch (message)
        {
            case ForwardedProposals<T> p:
                writer.WriteArrayHeader(4);
                writer.Write(ForwardedProposalsKind);
                writer.Write(p.RequestId);
                writer.WriteArrayHeader(p.Commands.Length);
                foreach (var command in p.Commands)
                {
                    try { _payload.Serialize(ref writer, command, Options); }
                    catch (Exception ex) { throw new RaftCodecException(RaftCodecError.PayloadEncodeFailed, $"forwarded request {p.RequestId}: {ex.Message}", ex); }
                }
                if (p.TraceParents is null) writer.WriteNil();
                else
                {
                    writer.WriteArrayHeader(p.TraceParents.Length);
                    foreach (var t in p.TraceParents) writer.Write(t);
                }
                break;
            case ForwardedOutcome<T> o:
                writer.WriteArrayHeader(9);
                writer.Write(ForwardedOutcomeKind);
                writer.Write(o.RequestId);
                writer.Write(o.Slot);
                writer.Write((byte)o.Status);
                writer.Write(o.Index);
                writer.Write(o.Term);
                if (o.Result is null) writer.WriteNil(); else writer.Write(o.Result);
                writer.Write(o.Error);
                writer.Write(o.LeaderHint);
                break;
            default:
                throw new InvalidOperationException($"unknown host message {message.GetType().Name}: update HostMessageCodec");
        }
    }

    public HostMessage<T> Read(ref MessagePackReader reader)
    {
        var n = Records.ReadHeader(ref reader, 2, "host message");
        var kind = reader.ReadByte();
        var requestId = reader.ReadInt64();
        switch (kind)
        {
            case ForwardedProposalsKind:
            {
                if (n < 3) throw new RaftCodecException(RaftCodecError.Malformed, $"forwarded request {requestId} without commands");
                var count = Records.ReadCount(ref reader, "forwarded commands");
                var commands = new T[count];
                for (var i = 0; i < count; i++)
                {
                    try { commands[i] = _payload.Deserialize(ref reader, Options); }
                    catch (Exception ex) when (ex is not RaftCodecException and not EndOfStreamException)
                    {
                        throw new RaftCodecException(RaftCodecError.PayloadDecodeFailed, $"forwarded request {requestId}, command {i}: {ex.Message}", ex);
                    }
                }
                // Written since tracing: a request of an older node has no fourth field.
                string?[]? traces = null;
                if (n >= 4 && !reader.TryReadNil())
                {
                    var traced = Records.ReadCount(ref reader, "forwarded trace contexts");
                    if (traced != count) throw new RaftCodecException(RaftCodecError.Malformed, $"forwarded request {requestId}: {traced} trace contexts for {count} commands");
                    traces = new string?[traced];
                    for (var i = 0; i < traced; i++) traces[i] = reader.ReadString();
                }
                Records.SkipRest(ref reader, n, 4);
                return new ForwardedProposals<T>(requestId, commands, traces);
            }
            case ForwardedOutcomeKind:
            {
                if (n < 9) throw new RaftCodecException(RaftCodecError.Malformed, $"forwarded outcome has {n} fields, expected at least 9");
                var slot = reader.ReadInt32();
                var status = reader.ReadByte();
                if (status > (byte)ForwardStatus.Lost) throw new RaftCodecException(RaftCodecError.UnknownKind, $"forwarded outcome status {status}");
                var index = reader.ReadInt64();
                var term = reader.ReadInt64();
                var result = reader.TryReadNil() ? null : Records.ReadBytes(ref reader, "forwarded result");
                var error = reader.ReadString();
                var hint = reader.ReadInt64();
                Records.SkipRest(ref reader, n, 9);
                return new ForwardedOutcome<T>(requestId, slot, (ForwardStatus)status, index, term, result, error, hint);
            }
            default:
                throw new RaftCodecException(RaftCodecError.UnknownKind, $"host message kind {kind}");
        }
    }
}
