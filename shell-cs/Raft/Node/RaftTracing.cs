using System.Diagnostics;

namespace Raft.Node;

/// <summary>
/// The node host's spans on the <c>Raft</c> <see cref="ActivitySource"/> (add it with <c>AddSource("Raft")</c> in
/// OpenTelemetry): <c>raft.propose</c> for a caller's proposal (and, on the leader, for a proposal a follower
/// forwarded, as a child of the follower's <c>raft.forward</c> span: the trace context travels in the forwarded
/// request), <c>raft.read</c>, <c>raft.membership_change</c> and <c>raft.leader_transfer</c>. Heartbeats and
/// AppendEntries have none (thousands per second per group). Spans exist only while something listens.
/// </summary>
public static class RaftTracing
{
    /// <summary>The source's name.</summary>
    public const string SourceName = "Raft";

    internal static readonly ActivitySource Source = new(SourceName);

    /// <summary>Starts a span for a call on <paramref name="groupId"/> without making it the caller's current activity
    /// (the call returns before its span ends, and the caller's later work is not part of it). Null when nothing listens.</summary>
    internal static Activity? Start(string name, ActivityKind kind, long groupId, long nodeId, ActivityContext parent = default)
    {
        if (!Source.HasListeners()) return null;
        var previous = Activity.Current;
        var activity = parent == default ? Source.StartActivity(name, kind) : Source.StartActivity(name, kind, parent);
        Activity.Current = previous;
        if (activity is null) return null;
        activity.SetTag("raft.group", groupId);
        activity.SetTag("raft.node", nodeId);
        return activity;
    }

    /// <summary>Ends a span with the call's outcome: its error's type and message when it failed.</summary>
    internal static void Stop(Activity? activity, Exception? error)
    {
        if (activity is null) return;
        if (error is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, error.Message);
            activity.SetTag("error.type", error.GetType().FullName);
        }
        activity.Stop();
    }

    /// <summary>Ends the span of a task when it completes.</summary>
    internal static Task<T> StopWhenDone<T>(Activity? activity, Task<T> task)
    {
        if (activity is null) return task;
        task.ContinueWith(static (t, state) => Stop((Activity)state!, t.Exception?.InnerException ?? (t.IsCanceled ? new TaskCanceledException() : null)),
            activity, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task;
    }

    /// <summary>The W3C traceparent of a span, to carry in a forwarded request (null when there is none).</summary>
    internal static string? TraceParent(Activity? activity) => activity?.Id;

    /// <summary>The context a forwarded request carried, or default.</summary>
    internal static ActivityContext Parse(string? traceParent) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, null, out var context) ? context : default;
}
