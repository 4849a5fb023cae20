using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace Raft.Transport.Tcp;

// Opening connections: the accept loop with the acceptor's side of the handshake, and the per-peer dial loop with
// the dialer's side, retried with exponential backoff and jitter. With TLS on, the TLS handshake (TlsAuthenticator)
// comes first and the hello travels inside it; with a cluster secret, the hello exchange carries nonces and proofs
// (ClusterSecretProof) and the dialer sends a proof frame before any data.
public sealed partial class TcpTransport<TMessage>
{
    private async Task AcceptLoopAsync(Socket listener, CancellationToken token)
    {
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await listener.AcceptAsync(token).ConfigureAwait(false); }
            catch (Exception) when (token.IsCancellationRequested) { return; }
            catch (SocketException) { continue; } // a client that vanished before accept completed
            if (Interlocked.Increment(ref _pendingHandshakes) > _options.MaxPendingHandshakes)
            {
                Interlocked.Decrement(ref _pendingHandshakes);
                Refuse(socket.RemoteEndPoint, HandshakeRefusal.Limit, $"{_options.MaxPendingHandshakes} connections already in their handshake (MaxPendingHandshakes)");
                socket.Dispose();
                continue;
            }
            _ = Task.Run(async () =>
            {
                try { await AcceptAsync(socket, token).ConfigureAwait(false); }
                finally { Interlocked.Decrement(ref _pendingHandshakes); }
            }, CancellationToken.None);
        }
    }

    /// <summary>Accepted connections whose handshake has not ended (see <see cref="TcpTransportOptions.MaxPendingHandshakes"/>).</summary>
    private int _pendingHandshakes;

    private async Task AcceptAsync(Socket socket, CancellationToken token)
    {
        socket.NoDelay = true;
        var remote = socket.RemoteEndPoint;
        Stream? stream = null;
        PipeReader? reader = null;
        X509Certificate2? certificate = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_options.ConnectTimeout);
        Hello hello;
        try
        {
            var network = new NetworkStream(socket, ownsSocket: false);
            stream = network;
            if (_tls is not null)
            {
                await TlsAuthenticator.RefusePlaintextAsync(socket, timeout.Token).ConfigureAwait(false);
                (stream, certificate) = await _tls.AcceptAsync(network, timeout.Token).ConfigureAwait(false);
            }
            reader = TcpConnection.CreateReader(stream);
            hello = await TcpConnection.ReadOneFrameAsync(reader, FrameKind.Hello, TcpHandshake.ReadHello, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (ex is HandshakeRefusedException refused) Refuse(remote, refused.Reason, refused.Message);
            else if (ex is BadFrameException)
            {
                // Logged as a bad frame (what an operator greps for), counted both ways: a closed connection and a refusal.
                _counters.BadFrame();
                _counters.RefusedHandshake(HandshakeRefusal.BadFrame);
                _logger.BadFrame(remote, 0, $"in handshake: {ex.Message}");
            }
            else if (ex is OperationCanceledException && !token.IsCancellationRequested)
            {
                Refuse(remote, HandshakeRefusal.Timeout, $"no handshake within {_options.ConnectTimeout.TotalMilliseconds:0} ms");
            }
            else if (!token.IsCancellationRequested)
            {
                _logger.HandshakeRefused(remote, $"no handshake: {ex.Message}");
            }
            await CloseAsync(socket, reader, stream).ConfigureAwait(false);
            return;
        }

        var peer = _peers.TryGetValue(hello.From, out var p) ? p : null;
        var status =
            hello.ClusterId != _options.ClusterId ? HandshakeStatus.WrongCluster
            : hello.To != LocalId ? HandshakeStatus.WrongTarget
            : certificate is not null && !_tls!.Names(certificate, hello.From) ? HandshakeStatus.CertificateMismatch
            : peer is null ? HandshakeStatus.UnknownNode
            : _secret is not null && hello.Nonce is not { Length: ClusterSecretProof.NonceBytes } ? HandshakeStatus.SecretRequired
            : peer.WouldAdopt(LocalId, hello.From) ? HandshakeStatus.Accepted
            : HandshakeStatus.Duplicate;
        var nonce = _secret is not null && status == HandshakeStatus.Accepted ? ClusterSecretProof.NewNonce() : null;
        var proof = nonce is null ? null : ClusterSecretProof.Acceptor(_secret!, _options.ClusterId, hello.From, LocalId, hello.Nonce!, nonce);
        try
        {
            await SendFrameAsync(stream, b => TcpHandshake.WriteReply(b, new HelloReply(status, LocalId, _options.ClusterId, nonce, proof)), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.ConnectionClosed(hello.From, $"handshake reply failed: {ex.Message}");
            await CloseAsync(socket, reader, stream).ConfigureAwait(false);
            return;
        }
        if (status != HandshakeStatus.Accepted)
        {
            if (status != HandshakeStatus.Duplicate)
            {
                var reason = status switch
                {
                    HandshakeStatus.CertificateMismatch => HandshakeRefusal.CertificateIdentity,
                    HandshakeStatus.SecretRequired => HandshakeRefusal.ClusterSecret,
                    _ => HandshakeRefusal.Handshake,
                };
                Refuse(remote, reason, $"{status}: cluster '{hello.ClusterId}', node {hello.From}, target {hello.To}" +
                    (certificate is null ? "" : $", certificate '{certificate.Subject}'"));
            }
            await CloseAsync(socket, reader, stream).ConfigureAwait(false);
            return;
        }
        if (nonce is not null && !await DialerProvesSecretAsync(reader, hello, nonce, timeout.Token).ConfigureAwait(false))
        {
            Refuse(remote, HandshakeRefusal.ClusterSecret, $"node {hello.From} did not prove the cluster secret");
            await CloseAsync(socket, reader, stream).ConfigureAwait(false);
            return;
        }
        Adopt(peer!, new TcpConnection(socket, stream as SslStream, reader, hello.From, dialerId: hello.From, "inbound"));
    }

    /// <summary>Reads the dialer's proof frame and checks it; false for a wrong or missing proof (or a closed connection).</summary>
    private async Task<bool> DialerProvesSecretAsync(PipeReader reader, Hello hello, byte[] nonce, CancellationToken token)
    {
        try
        {
            var presented = await TcpConnection.ReadOneFrameAsync(reader, FrameKind.HelloProof, TcpHandshake.ReadProof, token).ConfigureAwait(false);
            return ClusterSecretProof.Verify(ClusterSecretProof.Dialer(_secret!, _options.ClusterId, hello.From, LocalId, hello.Nonce!, nonce), presented);
        }
        catch (Exception ex) when (ex is BadFrameException or EndOfStreamException or IOException or OperationCanceledException) { return false; }
    }

    private async Task DialLoopAsync(TcpPeer<TMessage> peer)
    {
        var token = peer.Lifetime.Token;
        var failures = 0;
        try
        {
            while (true)
            {
                await peer.WaitDisconnectedAsync(token).ConfigureAwait(false);
                string error;
                try
                {
                    if (await DialAsync(peer, token).ConfigureAwait(false)) { failures = 0; continue; }
                    error = "handshake refused";
                }
                catch (Exception ex) when (!token.IsCancellationRequested) { error = ex.Message; }
                var delay = Backoff(failures++);
                _logger.ConnectFailed(peer.Id, peer.EndPoint, error, (long)delay.TotalMilliseconds);
                // Sleep, but wake early if the peer dials us meanwhile (then there is nothing to do).
                await Task.WhenAny(Task.Delay(delay, token), peer.WaitConnectedAsync(token)).ConfigureAwait(false);
                token.ThrowIfCancellationRequested();
            }
        }
        catch (Exception) when (token.IsCancellationRequested) { /* stopping: whatever was in flight is abandoned */ }
    }

    /// <summary>Full-jitter-on-top-half exponential backoff: uniform in [d/2, d] with d = min(max, min * 2^failures).</summary>
    private TimeSpan Backoff(int failures)
    {
        var min = _options.ReconnectBackoffMin.TotalMilliseconds;
        var max = _options.ReconnectBackoffMax.TotalMilliseconds;
        var d = Math.Min(max, min * Math.Pow(2, Math.Min(failures, 30)));
        return TimeSpan.FromMilliseconds(d / 2 + Random.Shared.NextDouble() * d / 2);
    }

    private async Task<bool> DialAsync(TcpPeer<TMessage> peer, CancellationToken token)
    {
        var endPoint = peer.EndPoint;
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        PipeReader? reader = null;
        var nonce = _secret is null ? null : ClusterSecretProof.NewNonce();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_options.ConnectTimeout);
        HelloReply reply;
        try
        {
            await socket.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
            var network = new NetworkStream(socket, ownsSocket: false);
            stream = network;
            if (_tls is not null) stream = await _tls.DialAsync(network, peer.Id, timeout.Token).ConfigureAwait(false);
            reader = TcpConnection.CreateReader(stream);
            await SendFrameAsync(stream, b => TcpHandshake.WriteHello(b, new Hello(_options.ClusterId, LocalId, peer.Id, nonce)), timeout.Token).ConfigureAwait(false);
            reply = await TcpConnection.ReadOneFrameAsync(reader, FrameKind.HelloReply, TcpHandshake.ReadReply, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (ex is BadFrameException)
            {
                _counters.BadFrame();
                _logger.BadFrame(endPoint as IPEndPoint, peer.Id, $"in handshake reply: {ex.Message}");
            }
            await CloseAsync(socket, reader, stream).ConfigureAwait(false);
            if (ex is HandshakeRefusedException refused)
            {
                Refuse(endPoint, refused.Reason, $"dialing node {peer.Id}: {refused.Message}");
                return false;
            }
            if (ex is OperationCanceledException && !token.IsCancellationRequested) throw new TimeoutException("connect or handshake timed out", ex);
            throw;
        }

        if (reply.Status != HandshakeStatus.Accepted || reply.ClusterId != _options.ClusterId || reply.NodeId != peer.Id)
        {
            if (reply.Status != HandshakeStatus.Duplicate)
            {
                _counters.RefusedHandshake();
                if (reply.Status != HandshakeStatus.Accepted) _logger.HandshakeRejectedByPeer(peer.Id, endPoint, reply.Status);
                else _logger.HandshakeRefused(socket.RemoteEndPoint, $"expected node {peer.Id} of cluster '{_options.ClusterId}', found node {reply.NodeId} of '{reply.ClusterId}'");
            }
            await CloseAsync(socket, reader, stream).ConfigureAwait(false);
            return false;
        }
        if (nonce is not null && !await ProveSecretAsync(stream, peer.Id, nonce, reply, timeout.Token).ConfigureAwait(false))
        {
            Refuse(endPoint, HandshakeRefusal.ClusterSecret, $"node {peer.Id} did not prove the cluster secret");
            await CloseAsync(socket, reader, stream).ConfigureAwait(false);
            return false;
        }
        Adopt(peer, new TcpConnection(socket, stream as SslStream, reader, peer.Id, dialerId: LocalId, "outbound"));
        return true;
    }

    /// <summary>Checks the acceptor's proof and, when it holds, sends ours; false when the acceptor did not prove the secret
    /// (then ours is not sent: it would help whoever is listening in place of the acceptor).</summary>
    private async Task<bool> ProveSecretAsync(Stream stream, long peerId, byte[] nonce, HelloReply reply, CancellationToken token)
    {
        if (reply.Nonce is not { Length: ClusterSecretProof.NonceBytes } theirs) return false;
        var expected = ClusterSecretProof.Acceptor(_secret!, _options.ClusterId, LocalId, peerId, nonce, theirs);
        if (!ClusterSecretProof.Verify(expected, reply.Proof)) return false;
        var proof = ClusterSecretProof.Dialer(_secret!, _options.ClusterId, LocalId, peerId, nonce, theirs);
        await SendFrameAsync(stream, b => TcpHandshake.WriteProof(b, proof), token).ConfigureAwait(false);
        return true;
    }

    /// <summary>Writes one handshake frame.</summary>
    private static async Task SendFrameAsync(Stream stream, Action<PooledBufferWriter> write, CancellationToken token)
    {
        using var buffer = new PooledBufferWriter(256);
        write(buffer);
        await stream.WriteAsync(buffer.WrittenMemory, token).ConfigureAwait(false);
    }

    /// <summary>Logs and counts a refused connection, naming the remote address (logged first: whoever sees the count
    /// finds the line).</summary>
    private void Refuse(EndPoint? remote, HandshakeRefusal reason, string why)
    {
        _logger.HandshakeRefused(remote, reason == HandshakeRefusal.Handshake ? why : $"{reason}: {why}");
        _counters.RefusedHandshake(reason);
    }

    /// <summary>Hands a connection that passed the handshake to its peer (or retires it) and starts its read loop.</summary>
    private void Adopt(TcpPeer<TMessage> peer, TcpConnection connection)
    {
        var (adopted, reconnect) = peer.TryAdopt(LocalId, connection);
        if (adopted)
        {
            _logger.Connected(peer.Id, connection.Direction, connection.Remote);
            Track(connection, peer, reconnect);
            _sender.Drain(peer); // what was queued while there was no connection
            return;
        }
        else
        {
            _logger.Retired(peer.Id, connection.Direction);
            connection.Retire();
        }
        Track(connection, peer, reconnect: false);
    }

    private static async Task CloseAsync(Socket socket, PipeReader? reader, Stream? stream)
    {
        // Completing the reader disposes the stream under it (a TLS session or the socket's stream).
        if (reader is not null) await reader.CompleteAsync().ConfigureAwait(false);
        else if (stream is not null) await stream.DisposeAsync().ConfigureAwait(false);
        try { socket.Shutdown(SocketShutdown.Both); } catch (Exception) { /* not connected */ }
        socket.Dispose();
    }
}
