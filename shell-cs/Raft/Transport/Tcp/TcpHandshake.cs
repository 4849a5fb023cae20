using System.Buffers;
using MessagePack;

namespace Raft.Transport.Tcp;

/// <summary>The acceptor's verdict on a handshake.</summary>
internal enum HandshakeStatus
{
    Accepted = 0,
    /// <summary>The dialer belongs to another cluster.</summary>
    WrongCluster = 1,
    /// <summary>The dialer's node id is not in the acceptor's peer map.</summary>
    UnknownNode = 2,
    /// <summary>The dialer meant another node (a misconfigured endpoint).</summary>
    WrongTarget = 3,
    /// <summary>The pair already has a connection that wins the tie-break (see <see cref="TcpPeer{TMessage}"/>).</summary>
    Duplicate = 4,
}

/// <summary>What a dialer says first: <c>[version, clusterId, from, to]</c> in a <see cref="FrameKind.Hello"/> frame.</summary>
internal readonly record struct Hello(string ClusterId, long From, long To);

/// <summary>The acceptor's answer: <c>[status, nodeId, clusterId]</c> in a <see cref="FrameKind.HelloReply"/> frame.</summary>
internal readonly record struct HelloReply(HandshakeStatus Status, long NodeId, string ClusterId);

/// <summary>Encoding of the handshake frames' payloads. Any decode failure is reported as <see cref="FormatException"/>.</summary>
internal static class TcpHandshake
{
    private const int ProtocolVersion = 1;

    public static void WriteHello(PooledBufferWriter output, Hello hello)
    {
        var start = TcpFrame.Begin(output);
        var w = new MessagePackWriter(output);
        w.WriteArrayHeader(4);
        w.Write(ProtocolVersion);
        w.Write(hello.ClusterId);
        w.Write(hello.From);
        w.Write(hello.To);
        w.Flush();
        TcpFrame.Complete(output, start, FrameKind.Hello);
    }

    public static void WriteReply(PooledBufferWriter output, HelloReply reply)
    {
        var start = TcpFrame.Begin(output);
        var w = new MessagePackWriter(output);
        w.WriteArrayHeader(3);
        w.Write((int)reply.Status);
        w.Write(reply.NodeId);
        w.Write(reply.ClusterId);
        w.Flush();
        TcpFrame.Complete(output, start, FrameKind.HelloReply);
    }

    public static Hello ReadHello(ReadOnlySequence<byte> payload)
    {
        try
        {
            var r = new MessagePackReader(payload);
            var n = r.ReadArrayHeader();
            if (n < 4) throw new FormatException($"hello has {n} fields");
            var version = r.ReadInt32();
            if (version != ProtocolVersion) throw new FormatException($"handshake version {version}");
            return new Hello(r.ReadString() ?? "", r.ReadInt64(), r.ReadInt64());
        }
        catch (Exception ex) when (ex is not FormatException) { throw new FormatException($"malformed hello: {ex.Message}", ex); }
    }

    public static HelloReply ReadReply(ReadOnlySequence<byte> payload)
    {
        try
        {
            var r = new MessagePackReader(payload);
            var n = r.ReadArrayHeader();
            if (n < 3) throw new FormatException($"hello reply has {n} fields");
            return new HelloReply((HandshakeStatus)r.ReadInt32(), r.ReadInt64(), r.ReadString() ?? "");
        }
        catch (Exception ex) when (ex is not FormatException) { throw new FormatException($"malformed hello reply: {ex.Message}", ex); }
    }
}
