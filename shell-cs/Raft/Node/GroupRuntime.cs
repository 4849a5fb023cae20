using Raft.Core;

namespace Raft.Node;

/// <summary>
/// One group as the node's loop runs it (loop thread only, except where marked): the core state, the storage and
/// state machine, the callers' requests, the two sides of snapshot transfer, and what the loop, the group commit and
/// quiescence keep per group. <see cref="RaftGroup{TCommand,TResult}"/> is the public handle to it.
/// </summary>
internal sealed class GroupRuntime<TCommand, TResult>
{
    public GroupRuntime(RaftGroup<TCommand, TResult> handle, GroupStorage storage, IStateMachine<TCommand, TResult> stateMachine,
        State<TCommand> state, long[] peers, RaftMetrics metrics)
    {
        Handle = handle;
        GroupId = handle.GroupId;
        Storage = storage;
        StateMachine = stateMachine;
        State = state;
        Peers = peers;
        AppliedIndex = Core.Node.appliedIndex(state);
        Requests = new GroupRequests<TCommand, TResult>(GroupId, metrics);
        Role = RaftStatus.ToRole(Core.Node.role(state));
        Receiver = new SnapshotReceiver(GroupId);
    }

    public readonly long GroupId;
    public readonly RaftGroup<TCommand, TResult> Handle;
    public readonly GroupStorage Storage;
    public readonly IStateMachine<TCommand, TResult> StateMachine;
    /// <summary>Nodes whose silence wakes this group when quiescent.</summary>
    public readonly long[] Peers;
    public readonly GroupRequests<TCommand, TResult> Requests;
    public readonly SnapshotReceiver Receiver;
    public readonly SnapshotSources Sources = new();

    public State<TCommand> State;
    public long AppliedIndex;
    /// <summary>The role as of the last RoleChanged (metrics count transitions from it).</summary>
    public RaftRole Role;
    public bool Removed;
    public Exception? Fault;

    /// <summary>Steps are refused: removed or faulted.</summary>
    public bool Closed => Removed || Fault is not null;

    /// <summary>Why calls to this group fail now, or null when it takes them.</summary>
    public Exception? Refusal =>
        Fault is { } fault ? new GroupFaultedException(GroupId, fault)
        : Removed ? new RaftShutdownException($"Group {GroupId} was removed.")
        : null;

    // ---- per iteration ------------------------------------------------------------------------------------------

    /// <summary>In the iteration's list of groups with proposals to hand to the core.</summary>
    public bool Proposing;
    /// <summary>In the iteration's list of groups that applied entries (Applied is fed back, reads served).</summary>
    public bool AppliedSinceFeedback;

    // ---- quiescence ---------------------------------------------------------------------------------------------

    public bool Quiescent;
    public long LastActivityTick;

    // ---- the group commit (possibly on thread-pool threads while the loop waits for it) -------------------------

    public long CommitRound;
    public byte[]? CommitHardState;
    public bool CommitLog;
    public volatile bool CommitFailed;
    /// <summary>Run once the group's last write is durable (group removal).</summary>
    public Action? OnClosed;

    /// <summary>Publishes the status and membership the handle shows after a step.</summary>
    public void PublishStatus() => Handle.Publish(State, AppliedIndex, Quiescent);
}
