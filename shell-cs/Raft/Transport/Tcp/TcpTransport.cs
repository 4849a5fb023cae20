using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

[assembly: InternalsVisibleTo("Raft.Host.Tests")]

namespace Raft.Transport.Tcp;

/// <summary>
/// The TCP transport: one connection per peer pair, carrying every group's messages, framed as described in
/// <c>TcpFrame</c> (magic, version, flags, length, CRC-32C), opened by a handshake that checks the cluster id and
/// node ids (optionally inside mutual TLS, <see cref="TcpTlsOptions"/>, or proving a <see cref="TcpTransportOptions.ClusterSecret"/>).
/// Each peer has a bounded queue, drained by the sending thread itself into one socket write per batch
/// (<see cref="PeerSender{TMessage}"/>); each connection has one read loop over a
/// <see cref="System.IO.Pipelines.PipeReader"/> (<see cref="FrameReader{TMessage}"/>). Opening connections (accept,
/// dial, handshake) is in <c>TcpTransport.Connect.cs</c>. A bad frame closes only
/// its connection; lost connections are re-dialed with exponential backoff and jitter.
/// </summary>
public sealed partial class TcpTransport<TMessage> : ITransport<TMessage>
{
    private readonly TcpTransportOptions _options;
    private readonly IFrameCodec<TMessage> _codec;
    private readonly ILogger _logger;
    private readonly TransportCounters _counters;
    private readonly ConcurrentDictionary<long, TcpPeer<TMessage>> _peers = new();
    private readonly ConcurrentDictionary<TcpConnection, Task> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly PeerSender<TMessage> _sender;
    private readonly TlsAuthenticator? _tls;
    private readonly byte[]? _secret;
    private FrameReader<TMessage>? _reader;
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private int _state; // 0 new, 1 running, 2 stopped

    /// <summary>Creates a transport; nothing happens on the network until <see cref="StartAsync"/>.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid; the message names each bad key.</exception>
    public TcpTransport(TcpTransportOptions options, IFrameCodec<TMessage> codec, ILogger<TcpTransport<TMessage>>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(codec);
        options.ThrowIfInvalid();
        _options = options;
        _codec = codec;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _counters = new TransportCounters(PeerState);
        _sender = new PeerSender<TMessage>(options, codec, _counters, _logger);
        try { _tls = options.Tls.Enabled ? new TlsAuthenticator(options.Tls, _logger) : null; }
        catch (TlsConfigurationException ex) // the files changed since they were validated a moment ago
        {
            throw new OptionsValidationException(nameof(TcpTransportOptions), typeof(TcpTransportOptions), [$"Tls:{ex.Key} {ex.Message}"]);
        }
        _secret = options.HasClusterSecret ? ClusterSecretProof.KeyOf(options.ClusterSecret!) : null;
        foreach (var (id, text) in options.Peers)
            if (id != options.NodeId && TcpTransportOptions.TryParseEndPoint(text, out var endPoint))
                _peers[id] = NewPeer(id, endPoint);
    }

    /// <inheritdoc/>
    public long LocalId => _options.NodeId;

    /// <summary>The bound listening endpoint (with the real port when 0 was configured); null before start.</summary>
    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint as IPEndPoint;

    /// <inheritdoc/>
    public TransportStats Stats => _counters.Snapshot();

    /// <summary>The ids of the configured peers.</summary>
    public IReadOnlyCollection<long> Peers => _peers.Keys.ToArray();

    /// <summary>Whether a connection to <paramref name="peer"/> is up (handshake done).</summary>
    public bool IsConnected(long peer) => _peers.TryGetValue(peer, out var p) && p.Current is { IsClosed: false, IsRetired: false };

    /// <summary>The TLS session of the connection to <paramref name="peer"/> (null when plaintext or not connected): tests
    /// read the protocol and the certificate the peer presented on it.</summary>
    internal System.Net.Security.SslStream? TlsOf(long peer) => _peers.TryGetValue(peer, out var p) ? p.Current?.Tls : null;

    /// <summary>Messages for <paramref name="peer"/> not sent (its queue full, too large, unencodable).</summary>
    public long DroppedFor(long peer) => _peers.TryGetValue(peer, out var p) ? Interlocked.Read(ref p.Counters.Dropped) : 0;

    /// <inheritdoc/>
    public Task StartAsync(TransportReceiveHandler<TMessage> onReceive, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onReceive);
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0) throw new InvalidOperationException("the transport was already started");
        _reader = new FrameReader<TMessage>(_options, _codec, _counters, _logger, onReceive, _stopping.Token);
        TcpTransportOptions.TryParseEndPoint(_options.ListenEndpoint, out var listen);
        var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (listen is DnsEndPoint dns) listen = new IPEndPoint(Dns.GetHostAddresses(dns.Host)[0], dns.Port);
            // A restarted node must be able to listen on its port again while old connections sit in TIME_WAIT
            // (on Windows this option means something else, so only elsewhere).
            if (!OperatingSystem.IsWindows()) listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(listen);
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            Volatile.Write(ref _state, 2);
            throw;
        }
        _listener = listener;
        _logger.Listening(LocalId, listener.LocalEndPoint!, _options.ClusterId);
        _acceptLoop = Task.Run(() => AcceptLoopAsync(listener, _stopping.Token), CancellationToken.None);
        foreach (var peer in _peers.Values) StartPeer(peer);
        return Task.CompletedTask;
    }

    /// <summary>Adds a peer or changes its endpoint (a membership change); the peer may then connect and be dialed.</summary>
    public void SetPeer(long id, EndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (id == LocalId || id == 0) throw new ArgumentOutOfRangeException(nameof(id), id, "a peer id must be non-zero and not this node's");
        var created = false;
        var peer = _peers.GetOrAdd(id, _ => { created = true; return NewPeer(id, endPoint); });
        peer.EndPoint = endPoint;
        if (created && Volatile.Read(ref _state) == 1) StartPeer(peer);
    }

    /// <summary>Forgets a peer: its queue is discarded, its connection closed, and it may no longer connect.</summary>
    public void RemovePeer(long id)
    {
        if (!_peers.TryRemove(id, out var peer)) return;
        _counters.Forget(id);
        peer.Lifetime.Cancel();
        peer.Queue.Writer.TryComplete();
        peer.Current?.Abort();
    }

    /// <inheritdoc/>
    public bool TrySend(long peer, TMessage message)
    {
        if (Volatile.Read(ref _state) != 1 || !_peers.TryGetValue(peer, out var p))
        {
            var stopped = Volatile.Read(ref _state) != 1;
            _counters.Drop(stopped ? TransportDrop.Stopped : TransportDrop.UnknownPeer);
            _logger.Dropped(peer, stopped ? "transport not running" : "unknown peer");
            return false;
        }
        if (p.Queue.Writer.TryWrite(message))
        {
            _sender.Drain(p);
            return true;
        }
        _counters.Drop(TransportDrop.QueueFull, p.Counters);
        _logger.Dropped(peer, "queue full");
        return false;
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _state, 2) != 1) return;
        _stopping.Cancel();
        _listener?.Dispose();
        foreach (var peer in _peers.Values) peer.Queue.Writer.TryComplete();
        foreach (var connection in _connections.Keys) connection.Abort();
        var loops = new List<Task> { _acceptLoop };
        foreach (var peer in _peers.Values)
        {
            if (peer.DialLoop is { } d) loops.Add(d);
        }
        loops.AddRange(_connections.Values);
        try { await Task.WhenAll(loops).WaitAsync(cancellationToken).ConfigureAwait(false); }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { /* loops end by cancellation */ }
        _logger.Stopped(LocalId);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private TcpPeer<TMessage> NewPeer(long id, EndPoint endPoint) =>
        new(id, endPoint, _options.QueueCapacity, _counters.For(id), _stopping.Token);

    /// <summary>A peer's send queue depth and connection state, for <see cref="TransportStats.Peers"/>.</summary>
    private (int Queued, bool Connected) PeerState(long id) =>
        _peers.TryGetValue(id, out var p) ? (p.Queued, PeerSender<TMessage>.Usable(p.Current)) : (0, false);

    private void StartPeer(TcpPeer<TMessage> peer)
    {
        peer.DialLoop = Task.Run(() => DialLoopAsync(peer), CancellationToken.None);
    }

    /// <summary>Runs a connection's read loop and tracks it so that stopping can wait for it.</summary>
    private void Track(TcpConnection connection, TcpPeer<TMessage> peer, bool reconnect)
    {
        _counters.Opened(connection.Direction == "inbound", reconnect, peer.Counters);
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _connections[connection] = tcs.Task;
        if (_stopping.IsCancellationRequested) connection.Abort();
        _ = Task.Run(async () =>
        {
            try { await _reader!.ReadLoopAsync(connection, peer).ConfigureAwait(false); }
            finally
            {
                _connections.TryRemove(connection, out _);
                _counters.Closed();
                tcs.TrySetResult();
            }
        }, CancellationToken.None);
    }
}
