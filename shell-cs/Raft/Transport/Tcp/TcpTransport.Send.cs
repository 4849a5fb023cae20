namespace Raft.Transport.Tcp;

public sealed partial class TcpTransport<TMessage>
{
    /// <summary>
    /// Drains one peer's queue: waits for a connection, then packs as many queued messages as fit in
    /// <see cref="TcpTransportOptions.MaxBatchBytes"/> into one pooled buffer, one frame each, and writes them with
    /// one socket send. Messages stay queued (and later ones drop) while there is no connection.
    /// </summary>
    private async Task SendLoopAsync(TcpPeer<TMessage> peer)
    {
        var token = peer.Lifetime.Token;
        var reader = peer.Queue.Reader;
        using var buffer = new PooledBufferWriter(Math.Min(_options.MaxBatchBytes * 2, 1 << 20));
        try
        {
            while (true)
            {
                await peer.WaitConnectedAsync(token).ConfigureAwait(false);
                if (!await reader.WaitToReadAsync(token).ConfigureAwait(false)) return;
                var connection = peer.Current;
                if (connection is null || connection.IsClosed || connection.IsRetired) continue;

                buffer.Clear();
                var frames = 0;
                while (buffer.WrittenCount < _options.MaxBatchBytes && reader.TryRead(out var message))
                {
                    if (TryAppendFrame(buffer, message, peer.Id)) frames++;
                }
                if (frames == 0) continue;
                try
                {
                    await connection.SendAsync(buffer.WrittenMemory, token).ConfigureAwait(false);
                    _counters.Sent(frames, buffer.WrittenCount);
                }
                catch (Exception ex) when (!token.IsCancellationRequested)
                {
                    // The batch is lost with the connection; Raft retransmits. Dial again.
                    _logger.ConnectionClosed(peer.Id, $"send failed: {ex.Message}");
                    connection.Abort();
                    peer.OnClosed(connection);
                }
            }
        }
        catch (Exception) when (token.IsCancellationRequested) { /* stopping: whatever was in flight is abandoned */ }
    }

    private bool TryAppendFrame(PooledBufferWriter buffer, TMessage message, long peer)
    {
        var start = TcpFrame.Begin(buffer);
        try { _codec.Encode(message, buffer); }
        catch (Exception ex)
        {
            buffer.ResetTo(start);
            _counters.Drop();
            _logger.Dropped(peer, $"encode failed: {ex.Message}");
            return false;
        }
        if (buffer.WrittenCount - start - TcpFrame.HeaderSize > _options.MaxFrameBytes)
        {
            buffer.ResetTo(start);
            _counters.Drop();
            _logger.Dropped(peer, $"frame over {_options.MaxFrameBytes} bytes");
            return false;
        }
        TcpFrame.Complete(buffer, start, FrameKind.Data);
        return true;
    }
}
