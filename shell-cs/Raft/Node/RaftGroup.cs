using Raft.Core;

namespace Raft.Node;

/// <summary>
/// One Raft group on this node: the handle user code calls (thread-safe), plus the state the node's loop owns.
/// Obtain it from <see cref="RaftNodeHost{TCommand,TResult}.CreateGroupAsync"/> or <see cref="RaftNodeHost{TCommand,TResult}.GetGroup"/>.
/// </summary>
public sealed class RaftGroup<TCommand, TResult>
{
    private readonly RaftNodeHost<TCommand, TResult> _host;
    private volatile RaftStatus _status;

    internal RaftGroup(RaftNodeHost<TCommand, TResult> host, long groupId, GroupStorage storage, IStateMachine<TCommand, TResult> stateMachine,
        State<TCommand> state, long[] peers)
    {
        _host = host;
        GroupId = groupId;
        Storage = storage;
        StateMachine = stateMachine;
        State = state;
        Peers = peers;
        AppliedIndex = Core.Node.appliedIndex(state);
        _status = new RaftStatus(groupId, host.NodeId, RaftRole.Follower, Core.Node.term(state), 0, Core.Node.lastIndex(state),
            Core.Node.commitIndex(state), AppliedIndex, false);
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
    /// <exception cref="RaftTimeoutException">No outcome within the timeout (the command may still commit).</exception>
    /// <exception cref="RaftShutdownException">The node is stopping or the group was removed.</exception>
    /// <exception cref="ArgumentException">The command cannot be serialized.</exception>
    public Task<ProposeResult<TResult>> ProposeAsync(TCommand command, CancellationToken cancellationToken = default) =>
        ProposeAsync(command, null, cancellationToken);

    /// <inheritdoc cref="ProposeAsync(TCommand, CancellationToken)"/>
    public Task<ProposeResult<TResult>> ProposeAsync(TCommand command, TimeSpan? timeout, CancellationToken cancellationToken = default)
    {
        var size = _host.MeasureCommand(command);
        var p = new PendingProposal(this, command, size);
        return _host.SubmitAsync(this, p, p.Task, timeout, "ProposeAsync", cancellationToken);
    }

    /// <summary>A linearizable read: waits until this node (the leader) has confirmed its leadership and applied
    /// everything committed when the read arrived, then runs <paramref name="query"/> on the loop thread.</summary>
    /// <exception cref="NotLeaderException">This node is not the leader, or the core does not serve reads yet.</exception>
    public Task<TRead> ReadAsync<TRead>(Func<IStateMachine<TCommand, TResult>, TRead> query, CancellationToken cancellationToken = default) =>
        ReadAsync(query, null, cancellationToken);

    /// <inheritdoc cref="ReadAsync{TRead}(Func{IStateMachine{TCommand, TResult}, TRead}, CancellationToken)"/>
    public Task<TRead> ReadAsync<TRead>(Func<IStateMachine<TCommand, TResult>, TRead> query, TimeSpan? timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var r = new PendingRead<TRead>(this, query);
        return _host.SubmitAsync(this, r, r.Task, timeout, "ReadAsync", cancellationToken);
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
        _host.PostControlAsync(() => _host.StepGroup(this, Input<TCommand>.Campaign), cancellationToken);

    public override string ToString() => _status.ToString();

    // ---- owned by the loop thread ----------------------------------------------------------------------------

    internal readonly GroupStorage Storage;
    internal readonly IStateMachine<TCommand, TResult> StateMachine;
    internal readonly long[] Peers;
    internal State<TCommand> State;
    internal long AppliedIndex;
    internal long NextTag;
    internal bool Removed;
    internal Exception? Fault;
    internal readonly List<PendingProposal> Incoming = new();
    internal bool InProposeList;
    internal PendingProposal[]? CurrentBatch;
    internal long CurrentBatchTag;
    internal readonly RingQueue<PendingProposal> Awaiting = new();
    internal readonly Dictionary<long, PendingReadBase> Reads = new();
    internal readonly List<PendingReadBase> ReadyReads = new();
    internal bool AppliedDirty;
    internal bool Quiescent;
    internal long LastActivityTick;

    // ---- owned by the durability thread -----------------------------------------------------------------------

    internal long FlushEpoch;
    internal byte[]? FlushHardState;
    internal bool FlushLog;
    internal volatile bool FlushFailed;
    /// <summary>Run by the durability thread once the group's last queued write is durable (group removal).</summary>
    internal Action? OnClosed;

    internal void PublishStatus()
    {
        var s = State;
        var old = _status;
        var role = RaftStatus.ToRole(Core.Node.role(s));
        long term = Core.Node.term(s), leader = Core.Node.leader(s), last = Core.Node.lastIndex(s), commit = Core.Node.commitIndex(s);
        if (old.Role != role || old.Term != term || old.Leader != leader || old.LastIndex != last || old.CommitIndex != commit
            || old.AppliedIndex != AppliedIndex || old.Quiescent != Quiescent)
            _status = new RaftStatus(GroupId, _host.NodeId, role, term, leader, last, commit, AppliedIndex, Quiescent);
    }

    internal void RaiseRoleChanged(RoleChangedEventArgs e)
    {
        if (RoleChanged is { } handler)
            ThreadPool.UnsafeQueueUserWorkItem(static state =>
            {
                var (h, sender, args) = state;
                try { h(sender, args); } catch { /* a user handler must not break the node */ }
            }, (handler, (object)this, e), preferLocal: false);
    }

    /// <summary>A proposal waiting to be appended, then committed and applied.</summary>
    internal sealed class PendingProposal(RaftGroup<TCommand, TResult> group, TCommand command, int size)
        : TaskCompletionSource<ProposeResult<TResult>>(TaskCreationOptions.RunContinuationsAsynchronously), IPending
    {
        public readonly RaftGroup<TCommand, TResult> Group = group;
        public readonly TCommand Command = command;
        public readonly int Size = size;
        public long Index, Term;

        public void Fail(Exception e) => TrySetException(e);
    }

    /// <summary>A read waiting for ReadReady and for the state machine to catch up.</summary>
    internal abstract class PendingReadBase(RaftGroup<TCommand, TResult> group) : IPending
    {
        public readonly RaftGroup<TCommand, TResult> Group = group;
        public long Tag, Index;
        public abstract void Run(IStateMachine<TCommand, TResult> stateMachine);
        public abstract void Fail(Exception e);
    }

    internal sealed class PendingRead<TRead>(RaftGroup<TCommand, TResult> group, Func<IStateMachine<TCommand, TResult>, TRead> query) : PendingReadBase(group)
    {
        private readonly TaskCompletionSource<TRead> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Task<TRead> Task => _tcs.Task;

        public override void Run(IStateMachine<TCommand, TResult> stateMachine)
        {
            try { _tcs.TrySetResult(query(stateMachine)); }
            catch (Exception e) { _tcs.TrySetException(e); }
        }

        public override void Fail(Exception e) => _tcs.TrySetException(e);
    }
}

/// <summary>Something a caller waits for; failed by the loop when it cannot complete.</summary>
internal interface IPending
{
    void Fail(Exception e);
}
