using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace Raft.Transport.Tcp;

// Opening connections: the accept loop with the acceptor's side of the handshake, and the per-peer dial loop with
// the dialer's side, retried with exponential backoff and jitter.
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
            _ = Task.Run(() => AcceptAsync(socket, token), CancellationToken.None);
        }
    }

    private async Task AcceptAsync(Socket socket, CancellationToken token)
    {
        socket.NoDelay = true;
        var remote = socket.RemoteEndPoint;
        var reader = TcpConnection.CreateReader(socket);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_options.ConnectTimeout);
        Hello hello;
        try
        {
            hello = await TcpConnection.ReadOneFrameAsync(reader, FrameKind.Hello, TcpHandshake.ReadHello, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (ex is BadFrameException)
            {
                _counters.BadFrame();
                _logger.BadFrame(remote, 0, $"in handshake: {ex.Message}");
            }
            else if (!token.IsCancellationRequested)
            {
                _logger.HandshakeRefused(remote, $"no handshake: {ex.Message}");
            }
            await CloseAsync(socket, reader).ConfigureAwait(false);
            return;
        }

        var peer = _peers.TryGetValue(hello.From, out var p) ? p : null;
        var status =
            hello.ClusterId != _options.ClusterId ? HandshakeStatus.WrongCluster
            : hello.To != LocalId ? HandshakeStatus.WrongTarget
            : peer is null ? HandshakeStatus.UnknownNode
            : peer.WouldAdopt(LocalId, hello.From) ? HandshakeStatus.Accepted
            : HandshakeStatus.Duplicate;
        try
        {
            using var buffer = new PooledBufferWriter(256);
            TcpHandshake.WriteReply(buffer, new HelloReply(status, LocalId, _options.ClusterId));
            await socket.SendAsync(buffer.WrittenMemory, SocketFlags.None, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.ConnectionClosed(hello.From, $"handshake reply failed: {ex.Message}");
            await CloseAsync(socket, reader).ConfigureAwait(false);
            return;
        }
        if (status != HandshakeStatus.Accepted)
        {
            if (status != HandshakeStatus.Duplicate)
            {
                _counters.RefusedHandshake();
                _logger.HandshakeRefused(remote, $"{status}: cluster '{hello.ClusterId}', node {hello.From}, target {hello.To}");
            }
            await CloseAsync(socket, reader).ConfigureAwait(false);
            return;
        }
        Adopt(peer!, new TcpConnection(socket, reader, hello.From, dialerId: hello.From, "inbound"));
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
        PipeReader? reader = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_options.ConnectTimeout);
        HelloReply reply;
        try
        {
            await socket.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
            reader = TcpConnection.CreateReader(socket);
            using (var buffer = new PooledBufferWriter(256))
            {
                TcpHandshake.WriteHello(buffer, new Hello(_options.ClusterId, LocalId, peer.Id));
                await socket.SendAsync(buffer.WrittenMemory, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            }
            reply = await TcpConnection.ReadOneFrameAsync(reader, FrameKind.HelloReply, TcpHandshake.ReadReply, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (ex is BadFrameException)
            {
                _counters.BadFrame();
                _logger.BadFrame(endPoint as IPEndPoint, peer.Id, $"in handshake reply: {ex.Message}");
            }
            await CloseAsync(socket, reader).ConfigureAwait(false);
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
            await CloseAsync(socket, reader).ConfigureAwait(false);
            return false;
        }
        Adopt(peer, new TcpConnection(socket, reader, peer.Id, dialerId: LocalId, "outbound"));
        return true;
    }

    /// <summary>Hands a connection that passed the handshake to its peer (or retires it) and starts its read loop.</summary>
    private void Adopt(TcpPeer<TMessage> peer, TcpConnection connection)
    {
        var (adopted, reconnect) = peer.TryAdopt(LocalId, connection);
        if (adopted)
        {
            if (reconnect) _counters.Reconnect();
            _logger.Connected(peer.Id, connection.Direction, connection.Remote);
            Track(connection, peer);
            _sender.Drain(peer); // what was queued while there was no connection
            return;
        }
        else
        {
            _logger.Retired(peer.Id, connection.Direction);
            connection.Retire();
        }
        Track(connection, peer);
    }

    private static async Task CloseAsync(Socket socket, PipeReader? reader)
    {
        if (reader is not null) await reader.CompleteAsync().ConfigureAwait(false);
        try { socket.Shutdown(SocketShutdown.Both); } catch (Exception) { /* not connected */ }
        socket.Dispose();
    }
}
