using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Raft.Transport.Tcp;

/// <summary>
/// The cluster-secret handshake for deployments without TLS: the dialer's hello carries a fresh nonce, the acceptor's
/// reply a nonce of its own and an HMAC-SHA256 under the shared key over both nonces, the cluster id and the two node
/// ids; the dialer checks it and answers with its own HMAC (another label, same fields) in a proof frame before any
/// data. Each side's nonce makes the other's proof fresh, so a recorded handshake cannot be replayed, and each proof
/// binds the ids, so a node cannot be impersonated without the key. It authenticates the handshake only: the frames
/// after it are neither encrypted nor authenticated, so an attacker on the path can read them, or take over an open
/// connection. TLS protects against both; this does not.
/// </summary>
internal static class ClusterSecretProof
{
    /// <summary>Bytes of a nonce.</summary>
    public const int NonceBytes = 32;

    /// <summary>The smallest secret accepted, in UTF-8 bytes (shorter ones can be guessed offline from one handshake).</summary>
    public const int MinSecretBytes = 16;

    private static readonly byte[] AcceptorLabel = "raft-acceptor-proof-v1"u8.ToArray();
    private static readonly byte[] DialerLabel = "raft-dialer-proof-v1"u8.ToArray();

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(NonceBytes);

    /// <summary>The acceptor's proof for a hello from <paramref name="dialer"/> to <paramref name="acceptor"/>.</summary>
    public static byte[] Acceptor(byte[] key, string clusterId, long dialer, long acceptor, byte[] dialerNonce, byte[] acceptorNonce) =>
        Compute(key, AcceptorLabel, clusterId, dialer, acceptor, dialerNonce, acceptorNonce);

    /// <summary>The dialer's proof, sent after it checked the acceptor's.</summary>
    public static byte[] Dialer(byte[] key, string clusterId, long dialer, long acceptor, byte[] dialerNonce, byte[] acceptorNonce) =>
        Compute(key, DialerLabel, clusterId, dialer, acceptor, dialerNonce, acceptorNonce);

    /// <summary>Compares in constant time (a timing difference would let a prober learn a proof byte by byte).</summary>
    public static bool Verify(byte[] expected, byte[]? presented) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(expected, presented);

    /// <summary>The key of a configured secret.</summary>
    public static byte[] KeyOf(string secret) => Encoding.UTF8.GetBytes(secret);

    private static byte[] Compute(byte[] key, byte[] label, string clusterId, long dialer, long acceptor, byte[] dialerNonce, byte[] acceptorNonce)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        Span<byte> number = stackalloc byte[8];
        hmac.AppendData(label);
        var cluster = Encoding.UTF8.GetBytes(clusterId);
        BinaryPrimitives.WriteInt32LittleEndian(number, cluster.Length); // length-prefixed: no two field lists read alike
        hmac.AppendData(number[..4]);
        hmac.AppendData(cluster);
        BinaryPrimitives.WriteInt64LittleEndian(number, dialer);
        hmac.AppendData(number);
        BinaryPrimitives.WriteInt64LittleEndian(number, acceptor);
        hmac.AppendData(number);
        hmac.AppendData(dialerNonce);
        hmac.AppendData(acceptorNonce);
        return hmac.GetHashAndReset();
    }
}
