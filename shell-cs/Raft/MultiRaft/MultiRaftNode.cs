using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MessagePack;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Raft.Node;
using Raft.Serialization;
using Raft.Transport;

namespace Raft.MultiRaft;

/// <summary>
/// Multi-raft with placement: a node whose data lives in many Raft groups found by name. A directory group
/// (<see cref="MultiRaftOptions.DirectoryGroupId"/>, run by every member) maps each name to its group and holds the
/// cluster's members; a name's group is created on its first write and opened on every member when the directory
/// entry applies there; a released name's group is closed and deleted everywhere (<see cref="MultiRaftOptions.Placement"/>:
/// one group per name, or a fixed number of hashed groups created when the cluster forms). A reconciler keeps every
/// group's voters equal to its members as the directory records them: every member, or
/// <see cref="MultiRaftOptions.ReplicationFactor"/> of them spread evenly, a departed member's groups getting
/// replacements (one change at a time, retried while an earlier one is pending); a balancer keeps each member leading
/// its share of the groups. Calls go to any member of a name's group: proposals and reads travel to the group's leader
/// through the node host; a node not replicating the group throws <see cref="NotPlacedHereException"/> naming the
/// members to ask instead.
/// </summary>
/// <typeparam name="TCommand">The user's command type (MessagePack, with the user's resolver).</typeparam>
/// <typeparam name="TResult">What the user's state machine returns.</typeparam>
public sealed class MultiRaftNode<TCommand, TResult> : IAsyncDisposable
{
    private readonly MultiRaftOptions _options;
    private readonly DirectoryStateMachine<TCommand, TResult> _directory;
    private readonly GroupReconciler<TCommand, TResult> _reconciler;
    private readonly LeaderBalancer<TCommand, TResult> _balancer;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<long, TaskCompletionSource<RaftGroup<PlacedCommand<TCommand>, PlacedResult<TResult>>>> _opening = new();
    private readonly ClusterMember[]? _seed;
    private Task[] _background = [];
    private int _state; // 0 new, 1 running, 2 stopped

    /// <param name="options">Placement settings; validated here.</param>
    /// <param name="nodeOptions">The node host's settings.</param>
    /// <param name="transport">The shared transport; when it is a TCP transport, give <paramref name="membersChanged"/> to keep its peers current.</param>
    /// <param name="storage">Opens every group's storage (a shared log suits thousands of groups).</param>
    /// <param name="stateMachineFactory">Creates the user's state machine of a data group.</param>
    /// <param name="membersChanged">Called (on a background thread) with the directory's members whenever they change
    /// and at start: where the transport learns the addresses of members added later.</param>
    /// <param name="serializerOptions">MessagePack options resolving <typeparamref name="TCommand"/> and <typeparamref name="TResult"/>.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <param name="timeProvider">The clock (TimeProvider.System when null).</param>
    /// <param name="meterFactory">Metrics; a private meter when null.</param>
    public MultiRaftNode(MultiRaftOptions options, RaftNodeOptions nodeOptions, ITransport<RaftEnvelope<PlacedCommand<TCommand>>[]> transport,
        IRaftStorageProvider storage, Func<long, IStateMachine<TCommand, TResult>> stateMachineFactory,
        Action<IReadOnlyList<ClusterMember>>? membersChanged = null, MessagePackSerializerOptions? serializerOptions = null,
        ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stateMachineFactory);
        if (options.Validate() is { Count: > 0 } errors) throw new ArgumentException("Invalid placement options: " + string.Join("; ", errors), nameof(options));
        _options = options;
        // Only a first member seeds the directory: a joining node's list names the cluster it joins, not itself.
        _seed = !options.Join && options.InitialMembers.Any(m => m.Id == nodeOptions.NodeId) ? [.. options.InitialMembers] : null;
        _directory = new DirectoryStateMachine<TCommand, TResult>(options.FirstDataGroupId);
        Host = new RaftNodeHost<PlacedCommand<TCommand>, PlacedResult<TResult>>(nodeOptions, transport, storage,
            id => id == options.DirectoryGroupId ? _directory : new PlacedStateMachine<TCommand, TResult>(stateMachineFactory(id)),
            serializerOptions, loggerFactory, timeProvider, meterFactory);
        _log = (ILogger?)loggerFactory?.CreateLogger("Raft.MultiRaft") ?? NullLogger.Instance;
        _reconciler = new GroupReconciler<TCommand, TResult>(this, options, membersChanged, _log);
        _balancer = new LeaderBalancer<TCommand, TResult>(this, options, _log);
        _directory.Changed = _reconciler.Wake;
    }

    /// <summary>The node host running the directory and every data group.</summary>
    public RaftNodeHost<PlacedCommand<TCommand>, PlacedResult<TResult>> Host { get; }

    /// <summary>This node's id.</summary>
    public long NodeId => Host.NodeId;

    /// <summary>The placement settings.</summary>
    public MultiRaftOptions Options => _options;

    /// <summary>This node's copy of the directory (it may trail the directory's leader; see <see cref="FindAsync"/>).</summary>
    public IDirectoryView Directory => _directory;

    /// <summary>The directory group on this node.</summary>
    public RaftGroup<PlacedCommand<TCommand>, PlacedResult<TResult>> DirectoryGroup => Host.GetGroup(_options.DirectoryGroupId);

    /// <summary>Leadership transfers the balancer (and graceful stops) started on this node.</summary>
    public long TransfersStarted => _balancer.Started;

    /// <summary>Membership changes the reconciler started on this node.</summary>
    public long ConfChangesStarted => _reconciler.ConfChangesStarted;

    /// <summary>Reconciler passes on this node (<see cref="MultiRaftOptions.ReconcileInterval"/> apart, or on a directory
    /// change), and those that walked the directory and every group: a pass that finds no group changed since a pass
    /// with nothing to do skips the walk (one in 30 s walks anyway), so thousands of idle groups cost no CPU here.</summary>
    public long ReconcilePasses => _reconciler.Passes;

    /// <summary>Those of <see cref="ReconcilePasses"/> that walked the directory and every group.</summary>
    public long ReconcilePassesWalked => _reconciler.PassesWalked;

    /// <summary>Balancer rounds that walked every group (on demand, or in the background after a group here changed).</summary>
    public long BalanceRoundsWalked => _balancer.RoundsWalked;

    /// <summary>Raised on a background thread when this node opens or closes a group, the members change, or the
    /// balancer moved leaderships.</summary>
    public event EventHandler<PlacementEventArgs>? PlacementChanged;

    internal void Raise(PlacementEventArgs e) => UserEvents.Raise(PlacementChanged, this, e);

    /// <summary>Opens the directory group (creating it with <see cref="MultiRaftOptions.InitialMembers"/> on a first
    /// member, joining it otherwise) and the data groups the restored directory names, starts the node, then the
    /// reconciler and the balancer. The first leader of the directory seeds it with the initial members.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0) throw new InvalidOperationException($"Node {NodeId} was already started.");
        var initial = _options.InitialMembers.Select(m => m.Id).ToArray();
        if (!_options.Join && initial.Contains(NodeId)) await Host.CreateGroupAsync(_options.DirectoryGroupId, initial, cancellationToken).ConfigureAwait(false);
        else await Host.JoinGroupAsync(_options.DirectoryGroupId, initial, cancellationToken).ConfigureAwait(false);
        // The directory's snapshot was restored with the group: its data groups open before the transport starts.
        await _reconciler.OpenPlacedGroupsAsync(cancellationToken).ConfigureAwait(false);
        await Host.StartAsync(cancellationToken).ConfigureAwait(false);
        _background = [_reconciler.RunAsync(_stop.Token), _balancer.RunAsync(_stop.Token)];
    }

    /// <summary>Hands this node's leaderships to other members (bounded by <see cref="MultiRaftOptions.HandOffTimeout"/>),
    /// stops the reconciler and balancer, then the node.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _state, 2) != 1) return;
        try { await _balancer.HandOffAsync(cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException) { MultiRaftLog.HandOffFailed(_log, NodeId, e); }
        _stop.Cancel();
        try { await Task.WhenAll(_background).WaitAsync(cancellationToken).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        await Host.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await Host.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    // ---- names ----------------------------------------------------------------------------------------------------

    /// <summary>Proposes <paramref name="command"/> to the group of <paramref name="name"/>, creating the group when the
    /// name has none. Completes once the command is applied (on the group's leader), with its index and result.</summary>
    /// <exception cref="PlacementException">The directory refused to place the name.</exception>
    /// <exception cref="RaftTimeoutException">No outcome within the timeout (the command may still commit).</exception>
    /// <remarks>Other exceptions are <see cref="RaftGroup{TCommand,TResult}.ProposeAsync(TCommand, CancellationToken)"/>'s.</remarks>
    public async Task<ProposeResult<TResult>> ProposeAsync(string name, TCommand command, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var deadline = Deadline.After(Host, timeout);
        var fresh = false;
        var attempt = 0;
        while (true)
        {
            var placement = (fresh ? await FindAsync(name, deadline.Left(name), cancellationToken).ConfigureAwait(false) : Directory.Find(name))
                ?? await AssignAsync(name, deadline, cancellationToken).ConfigureAwait(false);
            if (!HostsHere(placement)) throw NotPlacedHere(name, placement);
            var group = await OpenedAsync(placement.GroupId, deadline, cancellationToken).ConfigureAwait(false);
            if (group is null) { fresh = true; continue; } // released meanwhile
            ProposeResult<PlacedResult<TResult>> r;
            try { r = await group.ProposeAsync(PlacedCommand<TCommand>.Of(command), deadline.Left(name), cancellationToken).ConfigureAwait(false); }
            catch (RaftShutdownException) when (Volatile.Read(ref _state) == 1 && GroupGone(placement.GroupId)) { fresh = true; continue; }
            // Refused or overwritten, never applied: a leader moving (or none yet) is waited out within the deadline.
            catch (Exception e) when (e is NotLeaderException or ProposalDroppedException or ProposalLostException && deadline.CanRetry(attempt))
            {
                await deadline.BackOffAsync(attempt++, cancellationToken).ConfigureAwait(false);
                continue;
            }
            switch (r.Result.Outcome)
            {
                case PlacedOutcome.Ok: return new ProposeResult<TResult>(r.Index, r.Term, r.Result.Data!);
                case PlacedOutcome.Sealed:
                    await FinishReleaseAsync(placement, deadline, cancellationToken).ConfigureAwait(false);
                    fresh = true;
                    continue;
                default: throw new PlacementException(name, r.Result.Error ?? r.Result.Outcome.ToString());
            }
        }
    }

    /// <summary>Reads the state machine of <paramref name="name"/>'s group: linearizably (the read sees every write
    /// acknowledged before it started) or, with <paramref name="stale"/>, from this node's state as it is.
    /// <see cref="NamedRead{TRead}.Found"/> is false when the name has no group.</summary>
    public async Task<NamedRead<TRead>> ReadAsync<TRead>(string name, Func<IStateMachine<TCommand, TResult>, TRead> query, bool stale = false,
        TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var deadline = Deadline.After(Host, timeout);
        var placement = Directory.Find(name);
        Func<IStateMachine<PlacedCommand<TCommand>, PlacedResult<TResult>>, NamedRead<TRead>> run = sm =>
            sm is PlacedStateMachine<TCommand, TResult> { Sealed: false } placed ? new NamedRead<TRead>(true, query(placed.Inner)) : default;
        while (true)
        {
            if (placement is null && !stale) placement = await FindAsync(name, deadline.Left(name), cancellationToken).ConfigureAwait(false);
            if (placement is null) return default;
            if (!HostsHere(placement)) throw NotPlacedHere(name, placement);
            var group = await OpenedAsync(placement.GroupId, deadline, cancellationToken).ConfigureAwait(false);
            if (group is null) { placement = null; if (stale) return default; continue; }
            var (done, read) = await ReadGroupAsync(group, run, stale, deadline, name, cancellationToken).ConfigureAwait(false);
            // A sealed (or removed) group: the name was released, perhaps placed again since; only a fresh lookup knows.
            if (done && (read.Found || stale)) return read;
            if (stale) return default;
            placement = null;
        }
    }

    /// <summary>One read of a group open here, retried within the deadline while no leader answers (a read has no
    /// effect, so whatever stopped it is safe to retry); not done when the group is being removed here.</summary>
    private async Task<(bool Done, TRead Value)> ReadGroupAsync<TRead>(RaftGroup<PlacedCommand<TCommand>, PlacedResult<TResult>> group,
        Func<IStateMachine<PlacedCommand<TCommand>, PlacedResult<TResult>>, TRead> run, bool stale, Deadline deadline, string what, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return (true, stale ? await group.ReadLocalAsync(run, deadline.Left(what), ct).ConfigureAwait(false)
                    : await group.ReadAsync(run, deadline.Left(what), ct).ConfigureAwait(false));
            }
            catch (RaftShutdownException) when (Volatile.Read(ref _state) == 1 && GroupGone(group.GroupId)) { return (false, default!); }
            catch (Exception e) when (e is NotLeaderException or ProposalDroppedException or ForwardingFailedException && deadline.CanRetry(attempt))
            {
                await deadline.BackOffAsync(attempt, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Up to <paramref name="limit"/> names starting with <paramref name="prefix"/>, in ordinal order, each with
    /// its group. Per-key placement: from this node's copy of the directory (no Raft round trip; it may trail the
    /// directory's leader). Hash placement: the names are not in the directory, so every hashed group this node
    /// replicates is read (linearizably unless <paramref name="stale"/>; one read per group, in parallel) through its
    /// state machine's <see cref="INamedKeys"/>, and the groups it does not replicate are returned in
    /// <see cref="NameListing.Elsewhere"/> for the caller to ask their members.</summary>
    public async Task<NameListing> ListAsync(string prefix, int limit, bool stale = false, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        if (!Directory.Policy.IsHashed) return new(Directory.List(prefix, limit), []);
        var placements = Directory.Placements().OrderBy(p => p.GroupId).ToArray();
        var here = placements.Where(HostsHere).ToArray();
        var lists = await Task.WhenAll(here.Select(p => ListGroupAsync(p.GroupId, prefix, limit, stale, timeout, cancellationToken))).ConfigureAwait(false);
        var names = lists.SelectMany(l => l).OrderBy(p => p.Name, StringComparer.Ordinal).Take(limit).ToArray();
        return new(names, placements.Where(p => !HostsHere(p)).ToArray());
    }

    /// <summary>Up to <paramref name="limit"/> names of one group (hash placement) starting with <paramref name="prefix"/>,
    /// in ordinal order, read from its state machine's <see cref="INamedKeys"/>.</summary>
    /// <exception cref="NotPlacedHereException">This node does not replicate the group.</exception>
    /// <exception cref="PlacementException">No such group, or its state machine lists no names.</exception>
    public async Task<IReadOnlyList<GroupPlacement>> ListGroupAsync(long groupId, string prefix, int limit, bool stale = false, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        var what = $"group {groupId}";
        var placement = Directory.FindGroup(groupId) ?? throw new PlacementException(what, "not in the directory");
        if (!HostsHere(placement)) throw NotPlacedHere(placement.Name, placement);
        var deadline = Deadline.After(Host, timeout);
        var group = await OpenedAsync(groupId, deadline, cancellationToken).ConfigureAwait(false);
        if (group is null) return [];
        var (done, names) = await ReadGroupAsync(group, sm => sm is PlacedStateMachine<TCommand, TResult> { Inner: INamedKeys keys }
            ? keys.Names(prefix).Take(limit).Select(n => placement with { Name = n }).ToArray() : null, stale, deadline, what, cancellationToken).ConfigureAwait(false);
        if (done && names is null) throw new PlacementException(what, $"its state machine is no {nameof(INamedKeys)}, so it cannot list names");
        return names ?? [];
    }

    /// <summary>Whether this node replicates the group of <paramref name="placement"/>: always when every member replicates
    /// every group (a node not yet a member, or whose copy of the directory trails the assignment, waits for the group
    /// to open here), else when the directory records it among the group's members.</summary>
    public bool HostsHere(GroupPlacement placement) => placement.Members is not { } members || members.Contains(NodeId);

    private NotPlacedHereException NotPlacedHere(string name, GroupPlacement placement)
    {
        // The placement may come from the directory's leader before this node's copy has the members it names (a first
        // write here): their addresses then come from the initial members, or are unknown.
        var known = Directory.Members().Concat(_options.InitialMembers).DistinctBy(m => m.Id).ToDictionary(m => m.Id);
        return new(name, placement.GroupId, NodeId, Directory.MembersOf(placement).Select(id => known.GetValueOrDefault(id) ?? new ClusterMember(id, "", null)).ToArray());
    }

    /// <summary>The placement of <paramref name="name"/> as of now: a linearizable read of the directory, so a name
    /// placed or released anywhere before the call is seen.</summary>
    public Task<GroupPlacement?> FindAsync(string name, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        DirectoryGroup.ReadAsync(sm => ((IDirectoryView)sm).Find(name), timeout, cancellationToken);

    /// <summary>Releases <paramref name="name"/>: seals its group (refused when a command applied there after
    /// <paramref name="unchangedSince"/>, so a write racing the release is never discarded), then removes the name from
    /// the directory; every member closes the group and deletes its data. Returns false when the name has no group or
    /// the group changed after <paramref name="unchangedSince"/>.</summary>
    public async Task<bool> ReleaseAsync(string name, long unchangedSince = long.MaxValue, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        // Hashed groups hold many names: releasing one name never removes its group (the caller deletes the name's data).
        if (Directory.Policy.IsHashed) return false;
        var deadline = Deadline.After(Host, timeout);
        var placement = await FindAsync(name, deadline.Left(name), cancellationToken).ConfigureAwait(false);
        if (placement is null) return false;
        var group = await OpenedAsync(placement.GroupId, deadline, cancellationToken).ConfigureAwait(false);
        if (group is null) return false;
        var sealedNow = await group.ProposeAsync(new PlacedCommand<TCommand> { Kind = PlacedCommandKind.Seal, Index = unchangedSince },
            deadline.Left(name), cancellationToken).ConfigureAwait(false);
        if (sealedNow.Result.Outcome != PlacedOutcome.Ok) return false;
        await FinishReleaseAsync(placement, deadline, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private async Task FinishReleaseAsync(GroupPlacement placement, Deadline deadline, CancellationToken ct)
    {
        var r = await DirectoryGroup.ProposeAsync(new PlacedCommand<TCommand> { Kind = PlacedCommandKind.Release, Name = placement.Name, GroupId = placement.GroupId },
            deadline.Left(placement.Name), ct).ConfigureAwait(false);
        if (r.Result.Outcome is not (PlacedOutcome.Ok or PlacedOutcome.NotFound)) throw new PlacementException(placement.Name, r.Result.Error ?? r.Result.Outcome.ToString());
    }

    private async Task<GroupPlacement> AssignAsync(string name, Deadline deadline, CancellationToken ct)
    {
        var r = await DirectoryGroup.ProposeAsync(ToDirectory(PlacedCommandKind.Assign, name: name), deadline.Left(name), ct).ConfigureAwait(false);
        if (r.Result is { Outcome: PlacedOutcome.Ok, Placement: { } placement }) return placement;
        throw new PlacementException(name, r.Result.Error ?? r.Result.Outcome.ToString());
    }

    /// <summary>A group being removed here (its close may still be under way) or already gone, as after a release.</summary>
    private bool GroupGone(long groupId) =>
        !Host.TryGetGroup(groupId, out var g) || g.Runtime.Removed || _directory.FindGroup(groupId) is null;

    /// <summary>The local group of a placement once the reconciler opened it; null when the directory no longer has it.</summary>
    internal async Task<RaftGroup<PlacedCommand<TCommand>, PlacedResult<TResult>>?> OpenedAsync(long groupId, Deadline deadline, CancellationToken ct)
    {
        while (true)
        {
            if (Host.TryGetGroup(groupId, out var open)) return open;
            if (_directory.FindGroup(groupId) is null) return null;
            var waiter = _opening.GetOrAdd(groupId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
            if (Host.TryGetGroup(groupId, out open)) return open;
            _reconciler.Wake();
            try { return await waiter.Task.WaitAsync(deadline.Left($"group {groupId}"), Host.Time, ct).ConfigureAwait(false); }
            catch (TimeoutException) { throw new RaftTimeoutException(groupId, deadline.Limit, "opening the group on this node"); }
            catch (RaftShutdownException) when (Volatile.Read(ref _state) == 1) { }
        }
    }

    /// <summary>The reconciler opened (or could not keep) a group: wakes its waiters.</summary>
    internal void Opened(long groupId, RaftGroup<PlacedCommand<TCommand>, PlacedResult<TResult>>? group)
    {
        if (!_opening.TryRemove(groupId, out var waiter)) return;
        if (group is not null) waiter.TrySetResult(group);
        else waiter.TrySetException(new RaftShutdownException($"Group {groupId} was released."));
    }

    // ---- members ------------------------------------------------------------------------------------------------

    /// <summary>Adds a member to the cluster (or changes its addresses): the directory records it, every node's
    /// transport learns its address, and the reconciler adds it to every group. Start the new node (not listed in its
    /// <see cref="MultiRaftOptions.InitialMembers"/>) before or after; it catches up by log or snapshot.</summary>
    public Task AddMemberAsync(ClusterMember member, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(member);
        if (member.Id <= 0) throw new ArgumentOutOfRangeException(nameof(member), member.Id, "Member ids must be positive.");
        if (!Transport.Tcp.TcpTransportOptions.TryParseEndPoint(member.RaftEndpoint, out _))
            throw new ArgumentException($"The member's RaftEndpoint '{member.RaftEndpoint}' is not host:port.", nameof(member));
        return DirectoryCommandAsync(ToDirectory(PlacedCommandKind.AddMember, members: [member]), $"member {member.Id}", timeout, cancellationToken);
    }

    /// <summary>Removes a member: the reconciler removes it from every group (its leaderships move first).</summary>
    /// <exception cref="PlacementException">No such member, or it is the last one.</exception>
    public Task RemoveMemberAsync(long memberId, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        DirectoryCommandAsync(ToDirectory(PlacedCommandKind.RemoveMember, memberId: memberId), $"member {memberId}", timeout, cancellationToken);

    private async Task DirectoryCommandAsync(PlacedCommand<TCommand> command, string what, TimeSpan? timeout, CancellationToken ct)
    {
        var r = await DirectoryGroup.ProposeAsync(command, timeout, ct).ConfigureAwait(false);
        if (r.Result.Outcome != PlacedOutcome.Ok)
            throw new PlacementException(what, r.Result.Outcome == PlacedOutcome.NotFound ? "not a member" : r.Result.Error ?? r.Result.Outcome.ToString());
    }

    /// <summary>Whether this node may seed the directory: a first member not started to join.</summary>
    internal bool Seeds => _seed is not null;

    /// <summary>Seeds the directory with the initial members (on the directory's first leader).</summary>
    internal Task SeedAsync(CancellationToken ct) =>
        DirectoryGroup.ProposeAsync(ToDirectory(PlacedCommandKind.Seed, members: _seed), ct);

    /// <summary>Records in the directory that data group <paramref name="groupId"/>'s committed voters are
    /// <paramref name="voters"/> (the reconciler, on the group's leader).</summary>
    internal Task ConfirmAsync(long groupId, long[] voters, CancellationToken ct) =>
        DirectoryGroup.ProposeAsync(new PlacedCommand<TCommand> { Kind = PlacedCommandKind.Confirm, GroupId = groupId, Voters = voters }, ct);

    /// <summary>A directory command from this node: on a first member it carries the seed (members and placement
    /// rules), so whichever directory command commits first forms the cluster.</summary>
    private PlacedCommand<TCommand> ToDirectory(PlacedCommandKind kind, string? name = null, ClusterMember[]? members = null, long memberId = 0) =>
        new()
        {
            Kind = kind, Name = name, Members = members, MemberId = memberId, Seed = _seed,
            SeedHashGroups = _options.Placement.HashGroups, SeedReplicationFactor = _options.ReplicationFactor,
        };

    /// <summary>One balancing round now, whatever the interval and settle period: returns the transfers it started.</summary>
    public Task<int> RebalanceAsync(CancellationToken cancellationToken = default) => _balancer.RoundAsync(cancellationToken);

    /// <summary>A proposal's or read's time limit across its steps (lookup, open, propose).</summary>
    internal readonly struct Deadline(TimeProvider time, long start, TimeSpan limit)
    {
        public TimeSpan Limit => limit;

        public static Deadline After(RaftNodeHost<PlacedCommand<TCommand>, PlacedResult<TResult>> host, TimeSpan? timeout) =>
            new(host.Time, host.Time.GetTimestamp(), timeout ?? host.Options.RequestTimeout);

        /// <summary>Whether a retry's back-off still fits before the deadline.</summary>
        public bool CanRetry(int attempt) => limit - time.GetElapsedTime(start) > Pause(attempt);

        /// <summary>Waits before retry <paramref name="attempt"/>: 10 ms doubling up to 200 ms (an election takes a few hundred).</summary>
        public Task BackOffAsync(int attempt, CancellationToken ct) => Task.Delay(Pause(attempt), time, ct);

        private static TimeSpan Pause(int attempt) => TimeSpan.FromMilliseconds(Math.Min(200, 10 << Math.Min(attempt, 5)));

        /// <summary>What is left; a spent deadline throws naming what ran out of time.</summary>
        public TimeSpan Left(string what)
        {
            var left = limit - time.GetElapsedTime(start);
            if (left <= TimeSpan.Zero) throw new RaftTimeoutException(-1, limit, $"a call for {what}");
            return left;
        }
    }
}

/// <summary>A read of a name's state machine.</summary>
/// <param name="Found">False when the name has no group (the value is then default).</param>
/// <param name="Value">What the query returned.</param>
public readonly record struct NamedRead<TRead>(bool Found, TRead? Value);

/// <summary>The directory refused to place, release or change something.</summary>
public sealed class PlacementException(string subject, string reason) : RaftException($"Placement of {subject} refused: {reason}")
{
    /// <summary>The name or member the call was about.</summary>
    public string Subject { get; } = subject;
    /// <summary>Why.</summary>
    public string Reason { get; } = reason;
}

/// <summary>What the placement layer did on this node.</summary>
public sealed class PlacementEventArgs(string kind, long groupId, string? detail) : EventArgs
{
    /// <summary>opened, closed, members, rebalanced.</summary>
    public string Kind { get; } = kind;
    /// <summary>The group (0 when the event is not about one).</summary>
    public long GroupId { get; } = groupId;
    /// <summary>A name, a member list or a count.</summary>
    public string? Detail { get; } = detail;

    public override string ToString() => $"{Kind} {GroupId} {Detail}";
}
