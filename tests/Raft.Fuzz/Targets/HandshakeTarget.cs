using System.Buffers;
using Raft.Transport.Tcp;

namespace Raft.Fuzz.Targets;

/// <summary>The transport handshake: frames as a peer sends them before any data (hello, hello reply, cluster-secret
/// proof), each parsed by its reader and judged as the acceptor or dialer does with a cluster secret configured:
/// a nonce of the wrong size is refused, and no proof made without the key verifies. Input: <c>flags u8 | frames</c>.</summary>
internal static class HandshakeTarget
{
    private const string ClusterId = "fuzz-cluster";
    private const long Local = 1, Remote = 2;
    private static readonly byte[] Key = ClusterSecretProof.KeyOf("a cluster secret of the fuzz harness");
    private static readonly byte[] OurNonce = Enumerable.Range(0, ClusterSecretProof.NonceBytes).Select(i => (byte)i).ToArray();

    public static readonly FuzzTarget Target = new(
        "handshake", "TcpHandshake.ReadHello / ReadReply / ReadProof + ClusterSecretProof checks",
        Run, [typeof(FormatException)], 4L << 20, Seeds);

    private static void Run(byte[] input)
    {
        if (input.Length < 1) return;
        var stream = input[1..];
        if ((input[0] & Chunks.FixChecksums) != 0) FrameTarget.FixCrcs(stream);
        var buffer = new ReadOnlySequence<byte>(stream);
        byte[]? theirNonce = null;
        while (TcpFrame.TryRead(ref buffer, FrameTarget.MaxPayload, out var kind, out var payload, out _))
        {
            switch (kind)
            {
                case FrameKind.Hello:
                    // The acceptor: a hello without a 32-byte nonce is refused (SecretRequired) before any proof is made.
                    var hello = TcpHandshake.ReadHello(payload);
                    if (hello.Nonce is not { Length: ClusterSecretProof.NonceBytes }) return;
                    theirNonce = hello.Nonce;
                    ClusterSecretProof.Acceptor(Key, ClusterId, hello.From, Local, hello.Nonce, OurNonce);
                    break;
                case FrameKind.HelloReply:
                    // The dialer: the reply's proof over our nonce and theirs must not verify without the key.
                    var reply = TcpHandshake.ReadReply(payload);
                    if (reply.Nonce is not { Length: ClusterSecretProof.NonceBytes } nonce) return;
                    var expected = ClusterSecretProof.Acceptor(Key, ClusterId, Local, reply.NodeId, OurNonce, nonce);
                    if (ClusterSecretProof.Verify(expected, reply.Proof)) throw new FuzzViolation("a reply's proof made without the key verified");
                    break;
                case FrameKind.HelloProof:
                    var presented = TcpHandshake.ReadProof(payload);
                    if (theirNonce is null) return; // a proof before a hello: the acceptor is not waiting for one
                    var wanted = ClusterSecretProof.Dialer(Key, ClusterId, Remote, Local, theirNonce, OurNonce);
                    if (ClusterSecretProof.Verify(wanted, presented)) throw new FuzzViolation("a dialer's proof made without the key verified");
                    break;
                default:
                    return; // data before the handshake ends: the connection is closed
            }
        }
    }

    private static IEnumerable<(string, byte[])> Seeds()
    {
        using var output = new PooledBufferWriter(1024);
        byte[] Frames(Action<PooledBufferWriter> write)
        {
            output.ResetTo(0);
            write(output);
            return [0, .. output.WrittenSpan];
        }
        var nonce = OurNonce.Reverse().ToArray();
        yield return ("hello-plain", Frames(o => TcpHandshake.WriteHello(o, new Hello(ClusterId, Remote, Local))));
        yield return ("hello-nonce-proof", Frames(o =>
        {
            TcpHandshake.WriteHello(o, new Hello(ClusterId, Remote, Local, nonce));
            TcpHandshake.WriteProof(o, new byte[32]);
        }));
        yield return ("reply-plain", Frames(o => TcpHandshake.WriteReply(o, new HelloReply(HandshakeStatus.Accepted, Remote, ClusterId))));
        yield return ("reply-proof", Frames(o => TcpHandshake.WriteReply(o, new HelloReply(HandshakeStatus.Accepted, Remote, ClusterId, nonce, new byte[32]))));
        yield return ("reply-refused", Frames(o => TcpHandshake.WriteReply(o, new HelloReply(HandshakeStatus.WrongCluster, Remote, "other"))));
    }
}
