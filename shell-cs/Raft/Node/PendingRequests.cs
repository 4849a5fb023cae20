using System.Diagnostics;
using Raft.Core;

namespace Raft.Node;

/// <summary>Something a caller waits for; failed by the loop when it cannot complete.</summary>
internal interface IPending
{
    void Fail(Exception e);
    /// <summary>Completed one way or another (read by the timeout lanes on the timer thread).</summary>
    bool IsCompleted { get; }
}

/// <summary>A call from user code that the loop admits from the input queue: a proposal or a read.</summary>
internal interface ISubmission<TCommand, TResult> : IPending
{
    GroupRuntime<TCommand, TResult> Group { get; }
}

/// <summary>A proposal waiting to be appended, then committed and applied. A caller's proposal completes its task; a
/// <see cref="ForwardedProposal{TCommand,TResult}"/> also answers the follower that forwarded it.</summary>
internal class PendingProposal<TCommand, TResult>(GroupRuntime<TCommand, TResult> group, TCommand command, int size)
    : TaskCompletionSource<ProposeResult<TResult>>(TaskCreationOptions.RunContinuationsAsynchronously), ISubmission<TCommand, TResult>
{
    public GroupRuntime<TCommand, TResult> Group { get; } = group;
    public readonly TCommand Command = command;
    public readonly int Size = size;
    /// <summary>Where the leader appended it (set when the core accepts it).</summary>
    public long Index, Term;
    /// <summary>When it was made (Stopwatch ticks; latency metrics).</summary>
    public readonly long Started = Stopwatch.GetTimestamp();
    /// <summary>Its <c>raft.propose</c> span, and on a follower the <c>raft.forward</c> span of sending it to the leader.</summary>
    public Activity? Activity, ForwardActivity;

    /// <summary>The node that forwarded this proposal here (0 for a local caller); a forwarded proposal is never
    /// forwarded or held a second time.</summary>
    public virtual long ForwardedFrom => 0;

    public void Complete(ProposeResult<TResult> result)
    {
        if (!TrySetResult(result)) return;
        Activity?.SetTag("raft.index", result.Index);
        Traced(null);
        Completed();
    }

    public void Fail(Exception e)
    {
        if (!TrySetException(e)) return;
        Traced(e);
        Completed();
    }

    private void Traced(Exception? error)
    {
        RaftTracing.Stop(ForwardActivity, error);
        RaftTracing.Stop(Activity, error);
    }

    public bool IsCompleted => Task.IsCompleted;

    /// <summary>Runs on the completing thread once the outcome is set.</summary>
    protected virtual void Completed() { }
}

/// <summary>A read waiting for ReadReady and for the state machine to catch up.</summary>
internal abstract class PendingRead<TCommand, TResult>(GroupRuntime<TCommand, TResult> group) : ISubmission<TCommand, TResult>
{
    public GroupRuntime<TCommand, TResult> Group { get; } = group;
    public long Tag, Index;
    /// <summary>Served from this node's state as it is, without confirming leadership (a stale read).</summary>
    public bool Local { get; init; }
    /// <summary>When it was made (Stopwatch ticks; latency metrics).</summary>
    public readonly long Started = Stopwatch.GetTimestamp();
    public abstract void Run(IStateMachine<TCommand, TResult> stateMachine);
    public abstract void Fail(Exception e);
    public abstract bool IsCompleted { get; }
}

/// <summary>A read whose query returns <typeparamref name="TRead"/>.</summary>
internal sealed class PendingRead<TCommand, TResult, TRead>(GroupRuntime<TCommand, TResult> group, Func<IStateMachine<TCommand, TResult>, TRead> query)
    : PendingRead<TCommand, TResult>(group)
{
    private readonly TaskCompletionSource<TRead> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public Task<TRead> Task => _tcs.Task;

    public override void Run(IStateMachine<TCommand, TResult> stateMachine)
    {
        try { _tcs.TrySetResult(query(stateMachine)); }
        catch (Exception e) { _tcs.TrySetException(e); }
    }

    public override void Fail(Exception e) => _tcs.TrySetException(e);
    public override bool IsCompleted => _tcs.Task.IsCompleted;
}

/// <summary>A configuration change waiting to be appended, then applied; completes with its index.</summary>
internal sealed class PendingConfChange(ConfChange change)
    : TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously), IPending
{
    public readonly ConfChange Change = change;
    public long Tag, Index, Term;
    public void Fail(Exception e) => TrySetException(e);
    public bool IsCompleted => Task.IsCompleted;
}

/// <summary>A leadership transfer waiting for its target to lead.</summary>
internal sealed class PendingTransfer(long target) : TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), IPending
{
    public readonly long Target = target;
    public void Fail(Exception e) => TrySetException(e);
    public bool IsCompleted => Task.IsCompleted;
}
