using Microsoft.Extensions.Logging;

namespace Raft.Transport.Tcp;

/// <summary>
/// The sending half of the TCP transport: encodes a peer's queued messages into frames and writes them to the peer's
/// connection. Holds no per-peer state of its own (that lives in <see cref="TcpPeer{TMessage}"/>), so one instance
/// serves every peer of a transport.
/// </summary>
internal sealed class PeerSender<TMessage>(TcpTransportOptions options, IFrameCodec<TMessage> codec, TransportCounters counters, ILogger logger)
{
    /// <summary>
    /// Drains one peer's queue onto its connection, on the calling thread: packs as many queued messages as fit in
    /// <see cref="TcpTransportOptions.MaxBatchBytes"/> into the peer's pooled buffer, one frame each, and writes them
    /// with one socket send. Whoever queues a message calls this; one thread at a time drains (the others leave their
    /// message to it). A send the kernel takes at once (the usual case) costs no thread hop; one that cannot complete
    /// at once finishes on the thread pool, which then drains what was queued meanwhile. Messages stay queued (and
    /// later ones drop) while there is no connection; adopting a connection drains them.
    /// </summary>
    public void Drain(TcpPeer<TMessage> peer)
    {
        while (peer.TryEnterSend())
        {
            var connection = peer.Current;
            if (peer.Lifetime.IsCancellationRequested || !Usable(connection))
            {
                peer.ExitSend();
                // A connection adopted after the check above found the flag taken and left the draining to us.
                if (!peer.Lifetime.IsCancellationRequested && Usable(peer.Current) && peer.HasQueued) continue;
                return;
            }
            var buffer = peer.SendBuffer;
            buffer.Clear();
            var frames = 0;
            var reader = peer.Queue.Reader;
            while (buffer.WrittenCount < options.MaxBatchBytes && reader.TryRead(out var message))
            {
                if (TryAppendFrame(buffer, message, peer)) frames++;
            }
            if (frames == 0)
            {
                peer.ExitSend();
                if (peer.HasQueued) continue;
                return;
            }
            ValueTask<int> send;
            try { send = connection!.SendSomeAsync(buffer.WrittenMemory, peer.Lifetime.Token); }
            catch (Exception ex)
            {
                SendFailed(peer, connection!, ex);
                peer.ExitSend();
                continue;
            }
            if (send.IsCompletedSuccessfully && send.Result == buffer.WrittenCount)
            {
                counters.Sent(frames, buffer.WrittenCount, peer.Counters);
                peer.ExitSend();
                if (peer.HasQueued) continue;
                return;
            }
            _ = FinishSendAsync(peer, connection!, send, frames);
            return;
        }
    }

    /// <summary>Completes a socket send that did not finish at once, then drains what was queued meanwhile.</summary>
    private async Task FinishSendAsync(TcpPeer<TMessage> peer, TcpConnection connection, ValueTask<int> pending, int frames)
    {
        var token = peer.Lifetime.Token;
        var data = peer.SendBuffer.WrittenMemory;
        try
        {
            var sent = await pending.ConfigureAwait(false);
            if (sent <= 0) throw new IOException("socket accepted no bytes");
            if (sent < data.Length) await connection.SendAsync(data[sent..], token).ConfigureAwait(false);
            counters.Sent(frames, data.Length, peer.Counters);
        }
        catch (Exception ex)
        {
            if (!token.IsCancellationRequested) SendFailed(peer, connection, ex);
        }
        finally
        {
            peer.ExitSend();
        }
        Drain(peer);
    }

    private void SendFailed(TcpPeer<TMessage> peer, TcpConnection connection, Exception ex)
    {
        // The batch is lost with the connection; Raft retransmits. The dial loop connects again.
        logger.ConnectionClosed(peer.Id, $"send failed: {ex.Message}");
        connection.Abort();
        peer.OnClosed(connection);
    }

    public static bool Usable(TcpConnection? connection) => connection is { IsClosed: false, IsRetired: false };

    private bool TryAppendFrame(PooledBufferWriter buffer, TMessage message, TcpPeer<TMessage> peer)
    {
        var start = TcpFrame.Begin(buffer);
        try { codec.Encode(message, buffer); }
        catch (Exception ex)
        {
            buffer.ResetTo(start);
            counters.Drop(TransportDrop.EncodeFailed, peer.Counters);
            logger.Dropped(peer.Id, $"encode failed: {ex.Message}");
            return false;
        }
        if (buffer.WrittenCount - start - TcpFrame.HeaderSize > options.MaxFrameBytes)
        {
            buffer.ResetTo(start);
            counters.Drop(TransportDrop.TooLarge, peer.Counters);
            logger.Dropped(peer.Id, $"frame over {options.MaxFrameBytes} bytes");
            return false;
        }
        TcpFrame.Complete(buffer, start, FrameKind.Data);
        return true;
    }
}
