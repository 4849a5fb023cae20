using System.Buffers;
using Microsoft.Extensions.Logging;

namespace Raft.Transport.Tcp;

/// <summary>
/// The receiving half of the TCP transport: the read loop of every connection that passed its handshake. One
/// instance serves every connection of a transport; it ends its loops when <paramref name="stopping"/> is cancelled.
/// </summary>
internal sealed class FrameReader<TMessage>(
    TcpTransportOptions options, IFrameCodec<TMessage> codec, TransportCounters counters, ILogger logger,
    TransportReceiveHandler<TMessage> handler, CancellationToken stopping)
{
    /// <summary>
    /// Reads frames off one connection until it closes: each frame is checked (magic, version, flags, size cap, CRC),
    /// decoded, counted and handed to the receive handler, which is awaited before the next frame. Any bad frame closes
    /// this connection only.
    /// </summary>
    public async Task ReadLoopAsync(TcpConnection connection, TcpPeer<TMessage> peer)
    {
        var token = stopping;
        var reader = connection.Reader;
        var reason = "closed by peer";
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(token).ConfigureAwait(false);
                var buffer = result.Buffer;
                string? bad;
                while (TryTakeFrame(ref buffer, peer.Counters, out var message, out bad))
                {
                    // The message is already decoded, so the pipe's memory is not touched across this await.
                    await InvokeHandlerAsync(connection.PeerId, message, token).ConfigureAwait(false);
                }
                if (bad is not null)
                {
                    reason = BadFrame(connection, bad);
                    break;
                }
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty) reason = BadFrame(connection, $"truncated frame ({buffer.Length} bytes before end of stream)");
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested) { reason = "transport stopping"; }
        catch (Exception ex) { reason = ex.Message; }
        finally
        {
            connection.Abort();
            peer.OnClosed(connection);
            await reader.CompleteAsync().ConfigureAwait(false);
        }
        if (!token.IsCancellationRequested) logger.ConnectionClosed(connection.PeerId, reason);
    }

    /// <summary>Takes one whole, valid data frame off the buffer and decodes it; false when more bytes are needed or the frame is bad.</summary>
    private bool TryTakeFrame(ref ReadOnlySequence<byte> buffer, PeerCounters from, out TMessage message, out string? bad)
    {
        message = default!;
        bad = null;
        if (!TcpFrame.TryRead(ref buffer, options.MaxFrameBytes, out var kind, out var payload, out var error))
        {
            if (error != FrameError.None) bad = Describe(error);
            return false;
        }
        if (kind != FrameKind.Data)
        {
            bad = $"unexpected {kind} frame after the handshake";
            return false;
        }
        try { message = codec.Decode(payload); }
        catch (Exception ex)
        {
            bad = $"undecodable payload: {ex.Message}";
            return false;
        }
        counters.Received(TcpFrame.HeaderSize + payload.Length, from);
        return true;
    }

    private async ValueTask InvokeHandlerAsync(long from, TMessage message, CancellationToken token)
    {
        try { await handler(from, message, token).ConfigureAwait(false); }
        catch (OperationCanceledException) when (token.IsCancellationRequested) { throw; }
        catch (Exception ex) { logger.HandlerFailed(from, ex); }
    }

    private string BadFrame(TcpConnection connection, string reason)
    {
        counters.BadFrame();
        logger.BadFrame(connection.Remote, connection.PeerId, reason);
        return $"bad frame: {reason}";
    }

    private string Describe(FrameError error) => error switch
    {
        FrameError.BadMagic => "bad magic",
        FrameError.BadVersion => "unsupported frame version",
        FrameError.BadFlags => "unknown frame flags",
        FrameError.Oversized => $"frame over the {options.MaxFrameBytes}-byte cap",
        FrameError.BadChecksum => "CRC-32C mismatch",
        _ => error.ToString(),
    };
}
