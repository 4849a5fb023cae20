using Raft.Serialization;

namespace Raft.Node;

/// <summary>One input of the node's loop from its bounded channel. Proposals and reads take their own queue
/// (<see cref="NodeInbox{TCommand,TResult}"/>) and come here only when that queue is full.</summary>
internal abstract record NodeWork<TCommand, TResult>;

/// <summary>A batch of group-tagged messages from one peer.</summary>
internal sealed record InboundBatch<TCommand, TResult>(long From, RaftEnvelope<TCommand>[] Envelopes) : NodeWork<TCommand, TResult>;

/// <summary>A proposal or read that found the submission queue full and waited for room in the channel, behind every
/// call made before it.</summary>
internal sealed record Overflowed<TCommand, TResult>(ISubmission<TCommand, TResult> Submission) : NodeWork<TCommand, TResult>;

/// <summary>Nothing but a wake-up: the loop looks at its queues and the tick flag.</summary>
internal sealed record WakeUp<TCommand, TResult> : NodeWork<TCommand, TResult>
{
    public static readonly WakeUp<TCommand, TResult> Instance = new();
}

/// <summary>A call whose caller waits until the loop has carried it out (or failed it): <see cref="Done"/>.</summary>
internal abstract record GroupCall<TCommand, TResult>(GroupRuntime<TCommand, TResult> Group) : NodeWork<TCommand, TResult>
{
    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>A group created or restored after the node started joins the loop.</summary>
internal sealed record OpenGroup<TCommand, TResult>(GroupRuntime<TCommand, TResult> Group) : GroupCall<TCommand, TResult>(Group);

/// <summary>A group leaves the loop; done once its last write is durable and its storage closed (and deleted when asked).</summary>
internal sealed record CloseGroup<TCommand, TResult>(GroupRuntime<TCommand, TResult> Group, bool DeleteData) : GroupCall<TCommand, TResult>(Group);

/// <summary>Start an election now.</summary>
internal sealed record Campaign<TCommand, TResult>(GroupRuntime<TCommand, TResult> Group) : GroupCall<TCommand, TResult>(Group);

/// <summary>Hand leadership to the transfer's target; the transfer completes when the target leads.</summary>
internal sealed record TransferLeadership<TCommand, TResult>(GroupRuntime<TCommand, TResult> Group, PendingTransfer Transfer)
    : GroupCall<TCommand, TResult>(Group);

/// <summary>Propose a configuration change; the change completes when its entry applies.</summary>
internal sealed record ProposeConfChange<TCommand, TResult>(GroupRuntime<TCommand, TResult> Group, PendingConfChange Change)
    : GroupCall<TCommand, TResult>(Group);
