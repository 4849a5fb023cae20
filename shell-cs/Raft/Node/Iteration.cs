using Raft.Core;

namespace Raft.Node;

/// <summary>
/// What one iteration of the node loop has produced and not yet carried out (loop thread only; one instance, emptied
/// as the iteration finishes): messages to send, writes to make durable, inputs to feed back to the group being
/// stepped, groups with proposals to hand to their core, groups that applied entries, and inputs left for the next
/// iteration.
/// </summary>
internal sealed class Iteration<TCommand, TResult>(Outbox<TCommand> outbox)
{
    /// <summary>Messages for the transport, sent at the end of the iteration (the leader's appends before its fsync).</summary>
    public readonly Outbox<TCommand> Outbox = outbox;

    /// <summary>Persist effects whose writes are appended but not yet durable, in order.</summary>
    public List<DurableItem<TCommand, TResult>> Durable = new();

    /// <summary>Completions the host produced synchronously for the group being stepped (loaded entries, a saved
    /// snapshot, a chunk read): fed to its core before the step returns.</summary>
    public readonly Queue<Input<TCommand>> Feedback = new();

    /// <summary>Groups with queued proposals: one Propose input each, carrying all of them.</summary>
    public readonly List<GroupRuntime<TCommand, TResult>> Proposing = new();

    /// <summary>Groups that applied entries: Applied is fed back and ready reads are served.</summary>
    public readonly List<GroupRuntime<TCommand, TResult>> Applied = new();

    /// <summary>Inputs for the next iteration (peers the transport could not reach): not in this one, so an
    /// unreachable peer cannot keep one iteration probing it forever.</summary>
    public List<(GroupRuntime<TCommand, TResult> Group, Input<TCommand> Input)> NextIteration = new();

    public void Propose(GroupRuntime<TCommand, TResult> g)
    {
        if (g.Proposing) return;
        g.Proposing = true;
        Proposing.Add(g);
    }

    public void MarkApplied(GroupRuntime<TCommand, TResult> g)
    {
        if (g.AppliedSinceFeedback) return;
        g.AppliedSinceFeedback = true;
        Applied.Add(g);
    }
}
