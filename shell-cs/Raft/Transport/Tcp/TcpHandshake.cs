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
    /// <summary>The acceptor requires a cluster-secret proof and the hello carried no nonce.</summary>
    SecretRequired = 5,
    /// <summary>The dialer's TLS certificate does not name the node id its hello claims.</summary>
    CertificateMismatch = 6,
}

/// <summary>What a dialer says first: <c>[version, clusterId, from, to, nonce]</c> in a <see cref="FrameKind.Hello"/> frame;
/// the nonce (nil without a cluster secret) is what the acceptor's proof answers.</summary>
internal readonly record struct Hello(string ClusterId, long From, long To, byte[]? Nonce = null);

/// <summary>The acceptor's answer: <c>[status, nodeId, clusterId, nonce, proof]</c> in a <see cref="FrameKind.HelloReply"/>
/// frame; nonce and proof are nil without a cluster secret (see <see cref="ClusterSecretProof"/>).</summary>
internal readonly record struct HelloReply(HandshakeStatus Status, long NodeId, string ClusterId, byte[]? Nonce = null, byte[]? Proof = null);

/// <summary>Encoding of the handshake frames' payloads. Any decode failure is reported as <see cref="FormatException"/>.</summary>
internal static class TcpHandshake
{
    private const int ProtocolVersion = 1;

    public static void WriteHello(PooledBufferWriter output, Hello hello)
    {
        var start = TcpFrame.Begin(output);
        var w = new MessagePackWriter(output);
        w.WriteArrayHeader(5);
        w.Write(ProtocolVersion);
        w.Write(hello.ClusterId);
        w.Write(hello.From);
        w.Write(hello.To);
        w.Write(hello.Nonce);
        w.Flush();
        TcpFrame.Complete(output, start, FrameKind.Hello);
    }

    public static void WriteReply(PooledBufferWriter output, HelloReply reply)
    {
        var start = TcpFrame.Begin(output);
        var w = new MessagePackWriter(output);
        w.WriteArrayHeader(5);
        w.Write((int)reply.Status);
        w.Write(reply.NodeId);
        w.Write(reply.ClusterId);
        w.Write(reply.Nonce);
        w.Write(reply.Proof);
        w.Flush();
        TcpFrame.Complete(output, start, FrameKind.HelloReply);
    }

    /// <summary>The dialer's cluster-secret proof: <c>[proof]</c> in a <see cref="FrameKind.HelloProof"/> frame.</summary>
    public static void WriteProof(PooledBufferWriter output, byte[] proof)
    {
        var start = TcpFrame.Begin(output);
        var w = new MessagePackWriter(output);
        w.WriteArrayHeader(1);
        w.Write(proof);
        w.Flush();
        TcpFrame.Complete(output, start, FrameKind.HelloProof);
    }

    public static byte[] ReadProof(ReadOnlySequence<byte> payload)
    {
        try
        {
            var r = new MessagePackReader(payload);
            var n = r.ReadArrayHeader();
            if (n < 1) throw new FormatException("hello proof has no fields");
            return ReadBytes(ref r) ?? throw new FormatException("hello proof is nil");
        }
        catch (Exception ex) when (ex is not FormatException) { throw new FormatException($"malformed hello proof: {ex.Message}", ex); }
    }

    private static byte[]? ReadBytes(ref MessagePackReader r) => r.ReadBytes() is { } bytes ? bytes.ToArray() : null;

    public static Hello ReadHello(ReadOnlySequence<byte> payload)
    {
        try
        {
            var r = new MessagePackReader(payload);
            var n = r.ReadArrayHeader();
            if (n < 4) throw new FormatException($"hello has {n} fields");
            var version = r.ReadInt32();
            if (version != ProtocolVersion) throw new FormatException($"handshake version {version}");
            var cluster = r.ReadString() ?? "";
            var from = r.ReadInt64();
            var to = r.ReadInt64();
            return new Hello(cluster, from, to, n >= 5 ? ReadBytes(ref r) : null);
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
            var status = (HandshakeStatus)r.ReadInt32();
            var node = r.ReadInt64();
            var cluster = r.ReadString() ?? "";
            return n >= 5 ? new HelloReply(status, node, cluster, ReadBytes(ref r), ReadBytes(ref r)) : new HelloReply(status, node, cluster);
        }
        catch (Exception ex) when (ex is not FormatException) { throw new FormatException($"malformed hello reply: {ex.Message}", ex); }
    }
}
