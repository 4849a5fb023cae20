using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Raft.Transport.Tcp;

/// <summary>A frame that closes its connection; the message says why (for the log).</summary>
internal sealed class BadFrameException(string reason) : Exception(reason);

/// <summary>
/// One authenticated socket to a peer, plaintext or under TLS (then every byte goes through <see cref="Tls"/>). Its read loop runs until the peer closes or a bad frame arrives; writing is
/// done only by the peer's send loop. A connection that loses the one-per-pair tie-break is <see cref="Retire">retired</see>:
/// it stops sending (half-close) but keeps reading until the other side closes too, so frames already in flight on it
/// are not lost.
/// </summary>
internal sealed class TcpConnection
{
    private int _closed;

    public TcpConnection(Socket socket, SslStream? tls, PipeReader reader, long peerId, long dialerId, string direction)
    {
        Socket = socket;
        Tls = tls;
        Reader = reader;
        PeerId = peerId;
        DialerId = dialerId;
        Direction = direction;
        Remote = socket.RemoteEndPoint;
    }

    public Socket Socket { get; }
    /// <summary>The TLS session over <see cref="Socket"/>, or null for plaintext.</summary>
    public SslStream? Tls { get; }
    public PipeReader Reader { get; }
    public long PeerId { get; }
    /// <summary>Which node opened the connection; the tie-break keeps the one opened by the lower id.</summary>
    public long DialerId { get; }
    public string Direction { get; }
    public EndPoint? Remote { get; }
    public bool IsClosed => Volatile.Read(ref _closed) != 0;
    public bool IsRetired { get; private set; }

    /// <summary>Starts writing <paramref name="data"/>; returns how many bytes were taken (a plaintext socket send may take
    /// only part of it, a TLS write takes all). The caller owns writing: one write at a time.</summary>
    public ValueTask<int> SendSomeAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        Tls is null ? Socket.SendAsync(data, SocketFlags.None, cancellationToken) : WriteTlsAsync(Tls, data, cancellationToken);

    /// <summary>Writes all of <paramref name="data"/>.</summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var sent = await SendSomeAsync(data, cancellationToken).ConfigureAwait(false);
            if (sent <= 0) throw new IOException("socket accepted no bytes");
            data = data[sent..];
        }
    }

    private static async ValueTask<int> WriteTlsAsync(SslStream tls, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await tls.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        return data.Length;
    }

    /// <summary>Stops sending on this connection but keeps reading until the peer closes its side.</summary>
    public void Retire()
    {
        IsRetired = true;
        try { Socket.Shutdown(SocketShutdown.Send); } catch (Exception) { /* already closed */ }
    }

    /// <summary>Closes the socket at once (its read loop then ends).</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        try { Socket.Dispose(); } catch (Exception) { /* nothing to release */ }
    }

    /// <summary>Creates the pipe reader of a freshly connected plaintext socket.</summary>
    public static PipeReader CreateReader(Socket socket) => CreateReader(new NetworkStream(socket, ownsSocket: false));

    /// <summary>Creates the pipe reader of a connection's stream (a <see cref="NetworkStream"/> or a TLS session); completing
    /// the reader disposes the stream.</summary>
    public static PipeReader CreateReader(Stream stream) =>
        PipeReader.Create(stream,
            new StreamPipeReaderOptions(pool: MemoryPool<byte>.Shared, bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: false));

    /// <summary>Reads exactly one frame of <paramref name="expected"/> kind (a handshake) and decodes it before releasing the buffer.</summary>
    /// <exception cref="BadFrameException">Garbage, the wrong kind, or an undecodable payload.</exception>
    /// <exception cref="EndOfStreamException">The peer closed before a whole frame arrived.</exception>
    public static async Task<T> ReadOneFrameAsync<T>(PipeReader reader, FrameKind expected, Func<ReadOnlySequence<byte>, T> decode, CancellationToken cancellationToken)
    {
        const int MaxHandshakeBytes = 4096;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (TcpFrame.TryRead(ref buffer, MaxHandshakeBytes, out var kind, out var payload, out var error))
            {
                if (kind != expected) throw new BadFrameException($"expected a {expected} frame, got {kind}");
                T value;
                try { value = decode(payload); }
                catch (FormatException ex) { throw new BadFrameException(ex.Message); }
                reader.AdvanceTo(buffer.Start); // leave any following frames for the connection's read loop
                return value;
            }
            if (error != FrameError.None) throw new BadFrameException(error.ToString());
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
                throw buffer.Length > 0 ? new BadFrameException("truncated handshake") : new EndOfStreamException("closed during the handshake");
        }
    }
}
