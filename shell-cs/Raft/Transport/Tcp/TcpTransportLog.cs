using System.Net;
using Microsoft.Extensions.Logging;

namespace Raft.Transport.Tcp;

/// <summary>Every log line of the TCP transport, source-generated (no formatting cost when the level is off).</summary>
internal static partial class TcpTransportLog
{
    [LoggerMessage(1, LogLevel.Information, "Node {NodeId} listening on {EndPoint} (cluster {ClusterId})")]
    public static partial void Listening(this ILogger logger, long nodeId, EndPoint endPoint, string clusterId);

    [LoggerMessage(2, LogLevel.Information, "Connected to peer {Peer} ({Direction}, remote {Remote})")]
    public static partial void Connected(this ILogger logger, long peer, string direction, EndPoint? remote);

    [LoggerMessage(3, LogLevel.Debug, "Connecting to peer {Peer} at {EndPoint} failed: {Error}; retrying in {RetryMs} ms")]
    public static partial void ConnectFailed(this ILogger logger, long peer, EndPoint endPoint, string error, long retryMs);

    [LoggerMessage(4, LogLevel.Warning, "Refused handshake from {Remote}: {Reason}")]
    public static partial void HandshakeRefused(this ILogger logger, EndPoint? remote, string reason);

    [LoggerMessage(5, LogLevel.Warning, "Peer {Peer} at {EndPoint} refused our handshake: {Status}")]
    public static partial void HandshakeRejectedByPeer(this ILogger logger, long peer, EndPoint endPoint, HandshakeStatus status);

    [LoggerMessage(6, LogLevel.Warning, "Bad frame from {Remote} (peer {Peer}): {Reason}; closing the connection")]
    public static partial void BadFrame(this ILogger logger, EndPoint? remote, long peer, string reason);

    [LoggerMessage(7, LogLevel.Information, "Connection to peer {Peer} closed: {Reason}")]
    public static partial void ConnectionClosed(this ILogger logger, long peer, string reason);

    [LoggerMessage(8, LogLevel.Debug, "Dropped a message for peer {Peer}: {Reason}")]
    public static partial void Dropped(this ILogger logger, long peer, string reason);

    [LoggerMessage(9, LogLevel.Error, "The receive handler threw for a message from peer {Peer}")]
    public static partial void HandlerFailed(this ILogger logger, long peer, Exception exception);

    [LoggerMessage(10, LogLevel.Debug, "Connection to peer {Peer} ({Direction}) lost the tie-break and is retired")]
    public static partial void Retired(this ILogger logger, long peer, string direction);

    [LoggerMessage(11, LogLevel.Information, "Node {NodeId} transport stopped")]
    public static partial void Stopped(this ILogger logger, long nodeId);

    [LoggerMessage(12, LogLevel.Warning, "The TLS files changed but cannot be used, keeping the previous certificate: {Error}")]
    public static partial void TlsReloadFailed(this ILogger logger, string error);
}
