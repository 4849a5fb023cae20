using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using MessagePack;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft.Core;
using Raft.Serialization;
using Raft.Transport;

namespace Raft.Node;

/// <summary>
/// A Raft node hosting any number of groups (multi-raft). This class is the public surface and the lifetimes: calls
/// from user code go into the <see cref="NodeInbox{TCommand,TResult}"/>; one <see cref="NodeLoop{TCommand,TResult}"/>
/// owns every group and steps their cores; its <see cref="EffectInterpreter{TCommand,TResult}"/> persists through the
/// node's <see cref="GroupCommit{TCommand,TResult}"/>, sends through one shared transport (every message tagged with
/// its group id) and applies committed entries to each group's state machine. Public members are thread-safe.
/// </summary>
/// <typeparam name="TCommand">The user's command type, serialized with MessagePack.</typeparam>
/// <typeparam name="TResult">What the state machine returns for a command.</typeparam>
public sealed class RaftNodeHost<TCommand, TResult> : IRaftNode, IAsyncDisposable
{
    private readonly ITransport<RaftEnvelope<TCommand>[]> _transport;
    private readonly IRaftStorageProvider _storage;
    private readonly Func<long, IStateMachine<TCommand, TResult>> _stateMachines;
    private readonly RaftMessageCodec<TCommand> _codec;
    private readonly MessagePackSerializerOptions _serializer;
    private readonly ILogger _log;
    private readonly NodeInbox<TCommand, TResult> _inbox;
    private readonly NodeLoop<TCommand, TResult> _loop;
    private readonly RequestDeadlines _deadlines;
    private readonly ConcurrentDictionary<long, RaftGroup<TCommand, TResult>> _groups = new();
    private readonly CancellationTokenSource _stop = new();
    private ITimer? _timer;
    private Task? _loopTask;
    private int _state; // 0 new, 1 running, 2 stopping, 3 stopped
    private readonly object _startGate = new(); // orders groups added before start against the start itself
    [ThreadStatic] private static ArrayBufferWriter<byte>? s_measure;

    /// <param name="options">Node settings; validated here.</param>
    /// <param name="transport">The shared transport (TCP or in-memory) carrying batches of group-tagged messages; the host starts and stops it.</param>
    /// <param name="storage">Opens each group's log, hard state and snapshots.</param>
    /// <param name="stateMachineFactory">Creates the state machine of a group (called once per group and node lifetime).</param>
    /// <param name="serializerOptions">MessagePack options for <typeparamref name="TCommand"/> (the user's resolver); must match the transport codec's.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <param name="timeProvider">The clock driving ticks (TimeProvider.System when null).</param>
    /// <param name="meterFactory">Metrics; a private meter when null.</param>
    public RaftNodeHost(RaftNodeOptions options, ITransport<RaftEnvelope<TCommand>[]> transport, IRaftStorageProvider storage,
        Func<long, IStateMachine<TCommand, TResult>> stateMachineFactory, MessagePackSerializerOptions? serializerOptions = null,
        ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        if (transport.LocalId != options.NodeId)
            throw new ArgumentException($"The transport's node id {transport.LocalId} differs from NodeId {options.NodeId}.", nameof(transport));
        Options = options;
        NodeId = options.NodeId;
        _transport = transport;
        _storage = storage;
        _stateMachines = stateMachineFactory;
        _serializer = serializerOptions ?? MessagePackSerializerOptions.Standard;
        _codec = new RaftMessageCodec<TCommand>(_serializer);
        if (options.ForwardProposals) RequireSerializableResults(_serializer);
        _log = (ILogger?)loggerFactory?.CreateLogger("Raft.Node") ?? NullLogger.Instance;
        Time = timeProvider ?? TimeProvider.System;
        _deadlines = new RequestDeadlines(Time);
        _inbox = new NodeInbox<TCommand, TResult>(options.InputQueueCapacity);
        Metrics = new RaftMetrics(NodeId, meterFactory, new MetricSource(this));
        _loop = new NodeLoop<TCommand, TResult>(NodeId, options, _inbox, new Outbox<TCommand>(transport, Metrics), _codec, MeasureCommand, _serializer,
            Metrics, _log, RaiseRoleChanged, OnGroupClosed);
    }

    /// <summary>With forwarding on, results travel from the leader to the follower that forwarded the command: a
    /// result type the options cannot serialize is refused here, at construction, rather than failing each forwarded
    /// call after its command was applied.</summary>
    private static void RequireSerializableResults(MessagePackSerializerOptions serializer)
    {
        try { serializer.Resolver.GetFormatterWithVerify<TResult>(); }
        catch (Exception e)
        {
            throw new ArgumentException($"{nameof(RaftNodeOptions.ForwardProposals)} is on, so state machine results travel to the follower that " +
                $"forwarded the command, but {typeof(TResult)} cannot be serialized with the MessagePack options ({(e.InnerException ?? e).Message}). " +
                $"Make it a MessagePack object or register a formatter for it, or turn {nameof(RaftNodeOptions.ForwardProposals)} off.", "options", e);
        }
    }

    /// <summary>This node's id.</summary>
    public long NodeId { get; }

    /// <summary>The settings the node runs with.</summary>
    public RaftNodeOptions Options { get; }

    /// <summary>The clock driving ticks and timeouts.</summary>
    public TimeProvider Time { get; }

    /// <summary>The node's instruments.</summary>
    public RaftMetrics Metrics { get; }

    /// <summary>The transport's counters (frames, drops, bad frames, refused handshakes).</summary>
    public TransportStats TransportStats => _transport.Stats;

    /// <summary>Every group on this node.</summary>
    public IReadOnlyCollection<RaftGroup<TCommand, TResult>> Groups => _groups.Values.ToArray();

    private long _statusVersion;

    /// <summary>Moves whenever a group is added or removed here or a group's published status or membership changes:
    /// a reader that saw the same version twice knows no group changed in between (the placement layer's passes skip
    /// their walk over thousands of idle groups on it).</summary>
    internal long StatusVersion => Interlocked.Read(ref _statusVersion);

    internal void StatusChanged() => Interlocked.Increment(ref _statusVersion);

    /// <inheritdoc/>
    public NodeStatus GetStatus()
    {
        var groups = _groups.Values.Select(g => g.Describe()).OrderBy(g => g.GroupId).ToArray();
        var running = Volatile.Read(ref _state) == 1 && _loopTask is { IsCompleted: false };
        return new NodeStatus(NodeId, running, _loop.StorageFailure, groups, _transport.Stats, _loop.Paused);
    }

    /// <summary>Freezes the node as a long GC pause would (chaos testing): its loop stops stepping, ticking, sending and
    /// writing until <see cref="Resume"/>; messages and calls queue meanwhile and calls time out as usual. Its leaderships
    /// are lost to elections among the others; resumed, it learns the newer terms and follows.</summary>
    public void Pause() => _loop.Pause();

    /// <summary>Lets a node paused by <see cref="Pause"/> go on (a no-op when it is not paused).</summary>
    public void Resume() => _loop.Resume();

    /// <summary>Whether <see cref="Pause"/> holds the node.</summary>
    public bool Paused => _loop.Paused;

    /// <summary>Raised on the thread pool when any group's role, term or leader changes on this node.</summary>
    public event EventHandler<RoleChangedEventArgs>? RoleChanged;

    /// <summary>The group with this id.</summary>
    /// <exception cref="GroupNotFoundException">No such group on this node.</exception>
    public RaftGroup<TCommand, TResult> GetGroup(long groupId) =>
        _groups.TryGetValue(groupId, out var g) ? g : throw new GroupNotFoundException(groupId);

    /// <summary>The group with this id, if present.</summary>
    public bool TryGetGroup(long groupId, out RaftGroup<TCommand, TResult> group) => _groups.TryGetValue(groupId, out group!);

    /// <summary>Starts the loop, the transport and the timer. Groups created or joined before this call are open
    /// when the transport starts, so no message for them arrives before they exist (a restarted node would otherwise
    /// drop its peers' first messages for every group it has not reopened yet). When the transport cannot start (a
    /// port in use), the node is stopped and its groups' files closed before the exception reaches the caller.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        lock (_startGate)
        {
            if (_state != 0) throw new InvalidOperationException($"Node {NodeId} was already started.");
            Volatile.Write(ref _state, 1);
        }
        _loopTask = Task.Run(() => _loop.RunAsync(_stop.Token), CancellationToken.None);
        try { await _transport.StartAsync(OnReceive, cancellationToken).ConfigureAwait(false); }
        catch
        {
            // A port in use, say: stop what started and close the groups' files, so the caller can retry with a new node.
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        _timer = Time.CreateTimer(static s => ((RaftNodeHost<TCommand, TResult>)s!).OnTimer(), this, Options.TickInterval, Options.TickInterval);
        NodeLog.Started(_log, NodeId, _groups.Count);
    }

    /// <summary>Creates a group (or reopens it from storage after a restart) with the given voters (this node included).
    /// Every node of a new group must be given the same voters. May be called before <see cref="StartAsync"/>.</summary>
    /// <exception cref="InvalidOperationException">The group already exists on this node.</exception>
    public Task<RaftGroup<TCommand, TResult>> CreateGroupAsync(long groupId, IEnumerable<long> voters, CancellationToken cancellationToken = default)
    {
        var members = voters.Distinct().Order().ToArray();
        if (!members.Contains(NodeId)) throw new ArgumentException($"The voters of group {groupId} must include this node ({NodeId}).", nameof(voters));
        return OpenGroupAsync(groupId, members, members.Where(m => m != NodeId).ToArray(), cancellationToken);
    }

    /// <summary>Opens a group this node is about to be added to (by <c>AddVoterAsync</c>/<c>AddLearnerAsync</c> on the
    /// leader): a new group starts with no configuration and waits for the leader's entries or snapshot; an existing
    /// one is restored from storage like <see cref="CreateGroupAsync"/>.</summary>
    /// <param name="groupId">The group to open.</param>
    /// <param name="peers">Nodes to watch for liveness (quiescence); the configuration itself comes from the leader.</param>
    /// <param name="cancellationToken">Cancels waiting for the node loop to open the group.</param>
    public Task<RaftGroup<TCommand, TResult>> JoinGroupAsync(long groupId, IEnumerable<long>? peers = null, CancellationToken cancellationToken = default) =>
        OpenGroupAsync(groupId, [], (peers ?? []).Where(m => m != NodeId).Distinct().ToArray(), cancellationToken);

    private async Task<RaftGroup<TCommand, TResult>> OpenGroupAsync(long groupId, long[] members, long[] peers, CancellationToken cancellationToken)
    {
        if (groupId < 0) throw new ArgumentOutOfRangeException(nameof(groupId), groupId, "Group ids must not be negative (negative ids are reserved for node-level messages).");
        if (Volatile.Read(ref _state) >= 2) throw new RaftShutdownException($"Node {NodeId} is stopping.");
        if (_groups.ContainsKey(groupId)) throw new InvalidOperationException($"Group {groupId} already exists on node {NodeId}.");
        var storage = _storage.Open(groupId);
        GroupRuntime<TCommand, TResult> group;
        Storage.SnapshotWriter? receiving = null;
        try
        {
            var core = Options.CoreOptions(groupId);
            if ((core.SnapshotEntries > 0 || core.SnapshotLogBytes > 0) && storage.Snapshots is null)
                throw new InvalidOperationException($"Group {groupId} takes snapshots (SnapshotEntries {core.SnapshotEntries}, SnapshotLogBytes " +
                    $"{core.SnapshotLogBytes}) but its storage has no snapshot store: give the storage provider one, or turn snapshots off.");
            var sm = _stateMachines(groupId);
            var state = GroupRestore.Load(core, members, storage, sm, _codec, Options.RestoreTailEntries, groupId, _log, out var restored, out receiving);
            var handle = new RaftGroup<TCommand, TResult>(this, groupId, state);
            group = new GroupRuntime<TCommand, TResult>(handle, storage, sm, state, peers, Metrics);
            handle.Runtime = group;
            if (receiving is not null) group.Receiver.Resume(receiving);
            if (!_groups.TryAdd(groupId, handle)) throw new InvalidOperationException($"Group {groupId} already exists on node {NodeId}.");
            StatusChanged();
            NodeLog.GroupOpened(_log, groupId, restored ? "restored" : "created", NodeId, Core.Node.lastIndex(state), Core.Node.term(state));
        }
        catch
        {
            receiving?.Close(); // its durable chunks stay for the next open
            storage.Dispose();
            throw;
        }
        try
        {
            if (!TryAddBeforeStart(group)) await PostAsync(new OpenGroup<TCommand, TResult>(group), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _groups.TryRemove(groupId, out _);
            StatusChanged();
            receiving?.Close();
            storage.Dispose();
            throw;
        }
        return group.Handle;
    }

    /// <summary>Before <see cref="StartAsync"/> no loop runs yet, so the caller adds the group itself; the gate orders
    /// it before the loop's start.</summary>
    private bool TryAddBeforeStart(GroupRuntime<TCommand, TResult> group)
    {
        lock (_startGate)
        {
            if (_state != 0) return false;
            _loop.AddBeforeStart(group);
            return true;
        }
    }

    /// <summary>The groups whose data this node's storage holds, open or not (<see cref="IRaftStorageProvider.StoredGroups"/>).</summary>
    public IReadOnlyCollection<long> StoredGroups() => _storage.StoredGroups();

    /// <summary>Deletes the stored data of a group that is not open here: what a node kept of a group deleted elsewhere
    /// while it was down. Deleting data of a group whose configuration still has this node would let it forget its
    /// votes and entries: the caller must know the group is gone for good.</summary>
    /// <exception cref="InvalidOperationException">The group is open on this node (remove it with <see cref="RemoveGroupAsync"/>).</exception>
    public void DeleteStoredGroup(long groupId)
    {
        if (_groups.ContainsKey(groupId)) throw new InvalidOperationException($"Group {groupId} is open on node {NodeId}; remove it instead.");
        _storage.Delete(groupId);
    }

    /// <summary>Removes a group from this node: pending calls fail with <see cref="RaftShutdownException"/>, its
    /// storage is closed after its last write is durable, and deleted when <paramref name="deleteData"/>.</summary>
    public async Task RemoveGroupAsync(long groupId, bool deleteData = false, CancellationToken cancellationToken = default)
    {
        var group = GetGroup(groupId);
        await PostAsync(new CloseGroup<TCommand, TResult>(group.Runtime, deleteData), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The loop closed a removed group once its last write was durable.</summary>
    private void OnGroupClosed(GroupRuntime<TCommand, TResult> g, bool deleteData)
    {
        g.Storage.Dispose();
        if (deleteData) _storage.Delete(g.GroupId);
        _groups.TryRemove(g.GroupId, out _);
        StatusChanged();
        NodeLog.GroupRemoved(_log, g.GroupId, NodeId);
    }

    /// <summary>Graceful shutdown: stops ticking and accepting calls, lets the loop finish what is queued, makes every
    /// started write durable, closes connections and storage, and fails whatever is still pending.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _state, 2) >= 2) return;
        _timer?.Dispose();
        _inbox.Complete();
        _loop.Resume(); // a paused loop would never see the inbox complete
        if (_loopTask is not null)
        {
            try { await _loopTask.WaitAsync(cancellationToken).ConfigureAwait(false); }
            catch (OperationCanceledException) { _stop.Cancel(); }
        }
        try { await _transport.StopAsync(cancellationToken).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        var shutdown = new RaftShutdownException($"Node {NodeId} stopped.");
        foreach (var left in _inbox.DrainSubmissions()) left.Fail(shutdown);
        _loop.Shutdown(shutdown);
        Volatile.Write(ref _state, 3);
        Metrics.Dispose();
        NodeLog.Stopped(_log, NodeId);
    }

    /// <summary>What the node's observable instruments read: walks the groups' published statuses at each collection
    /// (a scrape), never the loop's state.</summary>
    private sealed class MetricSource(RaftNodeHost<TCommand, TResult> node) : IMetricSource
    {
        public int Groups => node._groups.Count;
        public int Quiescent => Count(static g => g.Status.Quiescent);
        public int Leading => Count(static g => g.Status.IsLeader);
        public int LeaderKnown => Count(static g => g.Status.Leader != 0);
        public int Faulted => Count(static g => g.Faulted);
        public long MaxTerm => Max(static s => s.Term);
        public long MaxApplyLag => Max(static s => s.CommitIndex - s.AppliedIndex);
        public TransportStats Transport => node._transport.Stats;

        public IEnumerable<System.Diagnostics.Metrics.Measurement<long>> FollowerLag(KeyValuePair<string, object?> tag)
        {
            var lags = new Dictionary<long, long>();
            foreach (var g in node._groups.Values)
                if (g.Status.IsLeader) g.AddFollowerLags(lags);
            foreach (var (peer, lag) in lags) yield return new(lag, tag, new KeyValuePair<string, object?>("raft.peer", peer));
        }

        public IEnumerable<System.Diagnostics.Metrics.Measurement<long>> PausedPeers(KeyValuePair<string, object?> tag)
        {
            var paused = new Dictionary<long, long>();
            foreach (var g in node._groups.Values)
                if (g.Status.IsLeader) g.AddPausedPeers(paused);
            foreach (var (peer, n) in paused) yield return new(n, tag, new KeyValuePair<string, object?>("raft.peer", peer));
        }

        public IEnumerable<TaggedGroup> TaggedGroups()
        {
            var n = node.Options.GroupMetrics;
            if (n <= 0) yield break;
            foreach (var id in node._groups.Keys.Order().Take(n))
                if (node._groups.TryGetValue(id, out var g)) yield return g.Tagged();
        }

        private int Count(Func<RaftGroup<TCommand, TResult>, bool> predicate)
        {
            var n = 0;
            foreach (var g in node._groups.Values)
                if (predicate(g)) n++;
            return n;
        }

        private long Max(Func<RaftStatus, long> read)
        {
            long max = 0;
            foreach (var g in node._groups.Values) max = Math.Max(max, read(g.Status));
            return max;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _transport.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    // ---- calls from user threads ------------------------------------------------------------------------------

    internal int MeasureCommand(TCommand command)
    {
        var buffer = s_measure ??= new ArrayBufferWriter<byte>(256);
        buffer.ResetWrittenCount();
        try { MessagePackSerializer.Serialize(buffer, command, _serializer); }
        catch (Exception e) { throw new ArgumentException($"The command cannot be serialized with the configured MessagePack options: {e.Message}", nameof(command), e); }
        return buffer.WrittenCount;
    }

    /// <summary>Queues a proposal or read for the loop and returns the caller's task. The usual call (room in the
    /// queue, no cancellation token) costs no timer and no async state machine: <see cref="_deadlines"/> fails it on
    /// timeout. With a token, or when the queue is full, the call waits here.</summary>
    internal Task<T> SubmitAsync<T>(RaftGroup<TCommand, TResult> group, ISubmission<TCommand, TResult> item, Task<T> task, TimeSpan? timeout,
        string what, CancellationToken ct)
    {
        // Refusals fault the returned task rather than throw from the call, like the rest of the async API.
        if (StoppingError() is { } stopping) return Task.FromException<T>(stopping);
        if (group.Runtime.Removed) return Task.FromException<T>(new RaftShutdownException($"Group {group.GroupId} was removed."));
        var limit = timeout ?? Options.RequestTimeout;
        if (limit <= TimeSpan.Zero) return Task.FromException<T>(new ArgumentOutOfRangeException(nameof(timeout), limit, "The timeout must be positive."));
        if (!_inbox.TrySubmit(item)) return SubmitWhenRoomAsync(group, item, task, limit, what, ct);
        if (!ct.CanBeCanceled) _deadlines.Add(item, group.GroupId, limit, what);
        // Stopped meanwhile: the loop may never see it (failing a call the loop already took is a no-op or what stopping does anyway).
        if (Volatile.Read(ref _state) >= 2) item.Fail(new RaftShutdownException($"Node {NodeId} is stopping."));
        return ct.CanBeCanceled ? WaitAsync(group, task, limit, what, ct) : task;
    }

    /// <summary>A full input queue: waits for room (behind the calls made before), then for the outcome.</summary>
    private async Task<T> SubmitWhenRoomAsync<T>(RaftGroup<TCommand, TResult> group, ISubmission<TCommand, TResult> item, Task<T> task,
        TimeSpan limit, string what, CancellationToken ct)
    {
        try { await _inbox.SubmitWhenRoomAsync(item, ct).ConfigureAwait(false); }
        catch (ChannelClosedException) { throw new RaftShutdownException($"Node {NodeId} is stopping."); }
        return await WaitAsync(group, task, limit, what, ct).ConfigureAwait(false);
    }

    /// <summary>Waits for the outcome, the timeout or the token (a call with a token unregisters it when done).</summary>
    private async Task<T> WaitAsync<T>(RaftGroup<TCommand, TResult> group, Task<T> task, TimeSpan limit, string what, CancellationToken ct)
    {
        try
        {
            return await task.WaitAsync(limit, Time, ct).ConfigureAwait(false);
        }
        catch (TimeoutException) when (!task.IsCompleted)
        {
            throw new RaftTimeoutException(group.GroupId, limit, what);
        }
    }

    /// <summary>Hands a group call to the loop and waits until it was carried out (at most the request timeout).</summary>
    internal async Task PostAsync(GroupCall<TCommand, TResult> call, CancellationToken ct)
    {
        ThrowIfStopping();
        try { await _inbox.PostAsync(call, ct).ConfigureAwait(false); }
        catch (ChannelClosedException) { throw new RaftShutdownException($"Node {NodeId} is stopping."); }
        await call.Done.Task.WaitAsync(Options.RequestTimeout, Time, ct).ConfigureAwait(false);
    }

    private void ThrowIfStopping()
    {
        if (StoppingError() is { } e) throw e;
    }

    /// <summary>Why the node takes no calls now (not started, stopping), or null.</summary>
    private Exception? StoppingError()
    {
        var state = Volatile.Read(ref _state);
        if (state == 0) return new InvalidOperationException($"Node {NodeId} is not started.");
        if (state >= 2) return new RaftShutdownException($"Node {NodeId} is stopping.");
        return null;
    }

    private ValueTask OnReceive(long from, RaftEnvelope<TCommand>[] batch, CancellationToken ct)
    {
        var work = _inbox.PostAsync(new InboundBatch<TCommand, TResult>(from, batch), ct);
        return work.IsCompletedSuccessfully ? default : WhenPosted(work);
    }

    /// <summary>A full inbox holds the transport's reader back; a stopping node drops the batch like a lost frame.</summary>
    private static async ValueTask WhenPosted(ValueTask posted)
    {
        try { await posted.ConfigureAwait(false); }
        catch (ChannelClosedException) { }
        catch (OperationCanceledException) { }
    }

    private void OnTimer()
    {
        _inbox.TickDue();
        _deadlines.Expire();
    }

    /// <summary>The loop waits for input with none queued (tests on a fake clock).</summary>
    internal bool Idle => _loop.Idle;

    internal void RaiseRoleChanged(RoleChangedEventArgs e) => UserEvents.Raise(RoleChanged, this, e);
}
