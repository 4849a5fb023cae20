using System.Diagnostics;
using Raft.Core;

namespace Raft.Node;

/// <summary>
/// One Raft group on this node: the handle user code calls (thread-safe). The node's loop owns the group itself
/// (<see cref="GroupRuntime{TCommand,TResult}"/>) and publishes its status here after every step.
/// Obtain it from <see cref="RaftNodeHost{TCommand,TResult}.CreateGroupAsync"/> or <see cref="RaftNodeHost{TCommand,TResult}.GetGroup"/>.
/// </summary>
public sealed class RaftGroup<TCommand, TResult>
{
    private readonly RaftNodeHost<TCommand, TResult> _host;
    private volatile RaftStatus _status;

    internal RaftGroup(RaftNodeHost<TCommand, TResult> host, long groupId, State<TCommand> state)
    {
        _host = host;
        GroupId = groupId;
        _status = new RaftStatus(groupId, host.NodeId, RaftRole.Follower, Core.Node.term(state), 0, Core.Node.lastIndex(state),
            Core.Node.commitIndex(state), Core.Node.appliedIndex(state), false);
        _membership = Core.Node.membership(state);
        _state = state;
        _leaderlessSince = host.Time.GetUtcNow().UtcTicks;
    }

    /// <summary>The group's id (carried by every message of the group).</summary>
    public long GroupId { get; }

    /// <summary>This node's id.</summary>
    public long NodeId => _host.NodeId;

    /// <summary>The newest status (updated by the loop after every step that changes it).</summary>
    public RaftStatus Status => _status;

    /// <summary>Raised on the thread pool when this node's role, the term or the known leader changes.</summary>
    public event EventHandler<RoleChangedEventArgs>? RoleChanged;

    /// <summary>Proposes a command with the node's default timeout. Completes once the command is committed and
    /// applied on this node, with its index and the state machine's result.</summary>
    /// <exception cref="NotLeaderException">This node is not the leader (see <see cref="NotLeaderException.LeaderHint"/>).</exception>
    /// <exception cref="ProposalDroppedException">The leader refused it (transfer in progress, uncommitted limit, ...).</exception>
    /// <exception cref="ProposalLostException">It was appended but overwritten by a later leader.</exception>
    /// <exception cref="OutcomeUnknownException">A snapshot installed while waiting hides whether it applied.</exception>
    /// <exception cref="RaftTimeoutException">No outcome within the timeout (the command may still commit).</exception>
    /// <exception cref="RaftShutdownException">The node is stopping or the group was removed.</exception>
    /// <exception cref="ArgumentException">The command cannot be serialized.</exception>
    public Task<ProposeResult<TResult>> ProposeAsync(TCommand command, CancellationToken cancellationToken = default) =>
        ProposeAsync(command, null, cancellationToken);

    /// <inheritdoc cref="ProposeAsync(TCommand, CancellationToken)"/>
    public Task<ProposeResult<TResult>> ProposeAsync(TCommand command, TimeSpan? timeout, CancellationToken cancellationToken = default)
    {
        var size = _host.MeasureCommand(command);
        var p = new PendingProposal<TCommand, TResult>(Runtime, command, size)
        {
            Activity = RaftTracing.Start("raft.propose", ActivityKind.Internal, GroupId, NodeId),
        };
        return _host.SubmitAsync(this, p, p.Task, timeout, "ProposeAsync", cancellationToken);
    }

    /// <summary>A linearizable read: waits until the leader has confirmed its leadership (on a follower, the read
    /// index travels to the leader and back) and this node has applied everything committed when the read arrived,
    /// then runs <paramref name="query"/> on the loop thread.</summary>
    /// <exception cref="NotLeaderException">No leader is known, or the leader does not serve reads yet.</exception>
    public Task<TRead> ReadAsync<TRead>(Func<IStateMachine<TCommand, TResult>, TRead> query, CancellationToken cancellationToken = default) =>
        ReadAsync(query, null, cancellationToken);

    /// <inheritdoc cref="ReadAsync{TRead}(Func{IStateMachine{TCommand, TResult}, TRead}, CancellationToken)"/>
    public Task<TRead> ReadAsync<TRead>(Func<IStateMachine<TCommand, TResult>, TRead> query, TimeSpan? timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var r = new PendingRead<TCommand, TResult, TRead>(Runtime, query);
        var activity = RaftTracing.Start("raft.read", ActivityKind.Internal, GroupId, NodeId);
        return RaftTracing.StopWhenDone(activity, _host.SubmitAsync(this, r, r.Task, timeout, "ReadAsync", cancellationToken));
    }

    /// <summary>A stale read: runs <paramref name="query"/> on the loop thread against what this node has applied so
    /// far, on any node and without a round to the leader. It may miss writes acknowledged elsewhere (or, on a node cut
    /// off from its peers, any number of them); use <see cref="ReadAsync{TRead}(Func{IStateMachine{TCommand, TResult}, TRead}, CancellationToken)"/>
    /// when the read must see every acknowledged write.</summary>
    public Task<TRead> ReadLocalAsync<TRead>(Func<IStateMachine<TCommand, TResult>, TRead> query, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var r = new PendingRead<TCommand, TResult, TRead>(Runtime, query) { Local = true };
        return _host.SubmitAsync(this, r, r.Task, timeout, "ReadLocalAsync", cancellationToken);
    }

    /// <summary><see cref="ReadAsync{TRead}(Func{IStateMachine{TCommand, TResult}, TRead}, CancellationToken)"/> with the
    /// state machine's own type, e.g. <c>await group.QueryAsync((Counter c) => c.Value, ct)</c> (C# infers both type
    /// arguments from the lambda's parameter type). A separate name rather than a <c>ReadAsync</c> overload, so that F#
    /// lambdas without a type annotation still resolve.</summary>
    /// <exception cref="InvalidCastException">The group's state machine is not a <typeparamref name="TMachine"/>.</exception>
    public Task<TRead> QueryAsync<TMachine, TRead>(Func<TMachine, TRead> query, CancellationToken cancellationToken = default)
        where TMachine : IStateMachine<TCommand, TResult> =>
        QueryAsync(query, null, cancellationToken);

    /// <inheritdoc cref="QueryAsync{TMachine, TRead}(Func{TMachine, TRead}, CancellationToken)"/>
    public Task<TRead> QueryAsync<TMachine, TRead>(Func<TMachine, TRead> query, TimeSpan? timeout, CancellationToken cancellationToken = default)
        where TMachine : IStateMachine<TCommand, TResult>
    {
        ArgumentNullException.ThrowIfNull(query);
        var stateMachine = Runtime.StateMachine;
        if (stateMachine is not TMachine)
            return Task.FromException<TRead>(new InvalidCastException(
                $"Group {GroupId}'s state machine is a {stateMachine.GetType()}, not a {typeof(TMachine)}."));
        return ReadAsync(machine => query((TMachine)machine), timeout, cancellationToken);
    }

    /// <summary>Completes with the leader's id as soon as this node knows one.</summary>
    public async Task<long> WaitForLeaderAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var tcs = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChange(object? _, RoleChangedEventArgs e)
        {
            if (e.Leader != 0) tcs.TrySetResult(e.Leader);
        }
        RoleChanged += OnChange;
        try
        {
            if (Status.Leader != 0) return Status.Leader;
            var limit = timeout ?? _host.Options.RequestTimeout;
            try { return await tcs.Task.WaitAsync(limit, _host.Time, cancellationToken).ConfigureAwait(false); }
            catch (TimeoutException) { throw new RaftTimeoutException(GroupId, limit, "WaitForLeaderAsync"); }
        }
        finally { RoleChanged -= OnChange; }
    }

    /// <summary>Asks this node to start an election now (operators and tests).</summary>
    public Task CampaignAsync(CancellationToken cancellationToken = default) =>
        _host.PostAsync(new Campaign<TCommand, TResult>(Runtime), cancellationToken);

    /// <summary>Hands leadership to <paramref name="target"/> (call it on the leader). Completes once this node sees
    /// <paramref name="target"/> lead the group.</summary>
    /// <exception cref="LeadershipTransferException">The core refused the transfer (e.g. the target is this node, not a
    /// voter, or this node is not the leader) or aborted it; <see cref="LeadershipTransferException.Reason"/> says why.</exception>
    /// <exception cref="RaftTimeoutException">The target did not become leader within the timeout (default: the node's RequestTimeout).</exception>
    public async Task TransferLeadershipAsync(long target, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var waiter = new PendingTransfer(target);
        var activity = RaftTracing.Start("raft.leader_transfer", ActivityKind.Internal, GroupId, NodeId);
        activity?.SetTag("raft.transfer.target", target);
        // The span ends with the call (a timeout included), not with the waiter, which a timeout leaves pending.
        try
        {
            await _host.PostAsync(new TransferLeadership<TCommand, TResult>(Runtime, waiter), cancellationToken).ConfigureAwait(false);
            var limit = timeout ?? _host.Options.RequestTimeout;
            try { await waiter.Task.WaitAsync(limit, _host.Time, cancellationToken).ConfigureAwait(false); }
            catch (TimeoutException) when (!waiter.Task.IsCompleted) { throw new RaftTimeoutException(GroupId, limit, "TransferLeadershipAsync"); }
            RaftTracing.Stop(activity, null);
        }
        catch (Exception e)
        {
            RaftTracing.Stop(activity, e);
            throw;
        }
    }

    /// <inheritdoc cref="TransferLeadershipAsync(long, TimeSpan?, CancellationToken)"/>
    public Task TransferLeadershipAsync(long target, CancellationToken cancellationToken) => TransferLeadershipAsync(target, null, cancellationToken);

    /// <summary>Proposes a configuration change (call it on the leader). Completes with the index of the
    /// configuration entry once it is committed and applied on this node.</summary>
    /// <exception cref="MembershipChangeException">The change is invalid or another change is still pending.</exception>
    /// <exception cref="NotLeaderException">This node is not the leader.</exception>
    /// <exception cref="ProposalDroppedException">Refused for another reason (transfer in progress, leadership lost).</exception>
    /// <exception cref="ProposalLostException">Appended but overwritten by a later leader.</exception>
    /// <exception cref="OutcomeUnknownException">A snapshot installed while waiting hides whether it applied.</exception>
    /// <exception cref="RaftTimeoutException">No outcome within the timeout (the change may still commit).</exception>
    public Task<long> ChangeMembershipAsync(ConfChange change, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(change);
        var activity = RaftTracing.Start("raft.membership_change", ActivityKind.Internal, GroupId, NodeId);
        activity?.SetTag("raft.change", change.ToString());
        return RaftTracing.StopWhenDone(activity, ProposeConfChangeAsync(new PendingConfChange(change), timeout, cancellationToken));
    }

    /// <inheritdoc cref="ChangeMembershipAsync(ConfChange, TimeSpan?, CancellationToken)"/>
    public Task<long> ChangeMembershipAsync(ConfChange change, CancellationToken cancellationToken) => ChangeMembershipAsync(change, null, cancellationToken);

    /// <summary>Adds <paramref name="node"/> as a voter (or promotes a learner); see <see cref="ChangeMembershipAsync(ConfChange, TimeSpan?, CancellationToken)"/>.</summary>
    public Task<long> AddVoterAsync(long node, CancellationToken cancellationToken = default) =>
        ChangeMembershipAsync(ConfChange.NewSimple(MembershipChange.NewAddVoter(node)), null, cancellationToken);

    /// <summary>Adds <paramref name="node"/> as a learner (or demotes a voter); see <see cref="ChangeMembershipAsync(ConfChange, TimeSpan?, CancellationToken)"/>.</summary>
    public Task<long> AddLearnerAsync(long node, CancellationToken cancellationToken = default) =>
        ChangeMembershipAsync(ConfChange.NewSimple(MembershipChange.NewAddLearner(node)), null, cancellationToken);

    /// <summary>Removes <paramref name="node"/> from the group; see <see cref="ChangeMembershipAsync(ConfChange, TimeSpan?, CancellationToken)"/>.</summary>
    public Task<long> RemoveNodeAsync(long node, CancellationToken cancellationToken = default) =>
        ChangeMembershipAsync(ConfChange.NewSimple(MembershipChange.NewRemoveNode(node)), null, cancellationToken);

    /// <summary>The configuration this node's core currently follows (voters, learners, joint state).</summary>
    public Membership Membership => _membership;

    /// <summary>Whether <see cref="Membership"/> is committed, not only appended here (a configuration takes effect
    /// when appended, and an uncommitted one may still be lost with its leader).</summary>
    public bool MembershipCommitted
    {
        get
        {
            var s = _state;
            return s.Config.CurrentIndex <= Core.Node.commitIndex(s);
        }
    }

    private async Task<long> ProposeConfChangeAsync(PendingConfChange p, TimeSpan? timeout, CancellationToken ct)
    {
        await _host.PostAsync(new ProposeConfChange<TCommand, TResult>(Runtime, p), ct).ConfigureAwait(false);
        var limit = timeout ?? _host.Options.RequestTimeout;
        try { return await p.Task.WaitAsync(limit, _host.Time, ct).ConfigureAwait(false); }
        catch (TimeoutException) when (!p.Task.IsCompleted) { throw new RaftTimeoutException(GroupId, limit, "ChangeMembershipAsync"); }
    }

    public override string ToString() => _status.ToString();

    // ---- published by the loop --------------------------------------------------------------------------------

    /// <summary>The loop's side of this group (tests read its counters).</summary>
    internal GroupRuntime<TCommand, TResult> Runtime { get; set; } = null!;

    internal void Publish(State<TCommand> s, long appliedIndex, bool quiescent)
    {
        _state = s;
        var old = _status;
        var role = RaftStatus.ToRole(Core.Node.role(s));
        long term = Core.Node.term(s), leader = Core.Node.leader(s), last = Core.Node.lastIndex(s), commit = Core.Node.commitIndex(s);
        if (old.Role != role || old.Term != term || old.Leader != leader || old.LastIndex != last || old.CommitIndex != commit
            || old.AppliedIndex != appliedIndex || old.Quiescent != quiescent)
        {
            if (leader == 0 && old.Leader != 0) Volatile.Write(ref _leaderlessSince, _host.Time.GetUtcNow().UtcTicks);
            _status = new RaftStatus(GroupId, _host.NodeId, role, term, leader, last, commit, appliedIndex, quiescent);
            _host.StatusChanged();
        }
        var membership = Core.Node.membership(s);
        if (!ReferenceEquals(membership, _membership))
        {
            _membership = membership;
            _host.StatusChanged();
        }
    }

    private volatile Membership _membership;
    private volatile State<TCommand> _state;
    private long _leaderlessSince; // UTC ticks: a DateTimeOffset could tear when read by another thread

    /// <summary>On a leader, raises each peer's entry in <paramref name="maxLag"/> to this group's lag of it.</summary>
    internal void AddFollowerLags(Dictionary<long, long> maxLag)
    {
        var s = _state;
        if (Core.Node.replicas(s) is not { IsSome: true } r) return;
        var last = Core.Node.lastIndex(s);
        foreach (var p in r.Value)
        {
            var lag = Math.Max(0, last - p.Match);
            if (!maxLag.TryGetValue(p.Node, out var seen) || lag > seen) maxLag[p.Node] = lag;
        }
    }

    /// <summary>On a leader, counts in <paramref name="paused"/> each peer flow control holds (see
    /// <see cref="ReplicaStatus.Paused"/>); every peer gets an entry, so a peer never paused reports 0.</summary>
    internal void AddPausedPeers(Dictionary<long, long> paused)
    {
        if (Core.Node.replicas(_state) is not { IsSome: true } r) return;
        foreach (var p in r.Value) paused[p.Node] = paused.GetValueOrDefault(p.Node) + (p.Paused ? 1 : 0);
    }

    /// <summary>The figures of this group's own gauges (<see cref="RaftNodeOptions.GroupMetrics"/>), from what the
    /// loop last published.</summary>
    internal TaggedGroup Tagged()
    {
        var s = _state;
        var status = _status;
        var snapshot = Core.Node.latestSnapshot(s);
        return new TaggedGroup(GroupId, status.Term, status.Leader, Core.Node.firstIndex(s), status.LastIndex, status.CommitIndex,
            status.AppliedIndex, snapshot.IsSome ? snapshot.Value.Index : 0);
    }

    /// <summary>The group stopped on a failure (any thread).</summary>
    internal bool Faulted => Runtime is { } g && Volatile.Read(ref g.Fault) is not null;

    /// <summary>This group's part of <see cref="NodeStatus"/>, from what the loop last published.</summary>
    internal GroupStatus Describe()
    {
        var s = _state;
        var status = _status;
        var last = Core.Node.lastIndex(s);
        var replicas = Core.Node.replicas(s) is { IsSome: true } r
            ? Array.ConvertAll(r.Value, p => new ReplicaStatus(p.Node, p.Match, p.Next, p.Inflight, Math.Max(0, last - p.Match), p.Mode.ToString(), p.RecentActive, p.Paused))
            : [];
        var snapshot = Core.Node.latestSnapshot(s);
        var fault = Runtime is { } g ? Volatile.Read(ref g.Fault) : null;
        return new GroupStatus(GroupId, status.Role, status.Term, status.Leader, status.Leader == 0 ? new DateTimeOffset(Volatile.Read(ref _leaderlessSince), TimeSpan.Zero) : null,
            Core.Node.firstIndex(s), last, status.CommitIndex, status.AppliedIndex, snapshot.IsSome ? snapshot.Value.Index : 0,
            status.Quiescent, fault?.Message, replicas);
    }

    internal void RaiseRoleChanged(RoleChangedEventArgs e) => UserEvents.Raise(RoleChanged, this, e);
}
