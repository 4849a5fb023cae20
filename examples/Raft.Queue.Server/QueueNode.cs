using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Raft.Server;

namespace Raft.Queue.Server;

/// <summary>This process's node (the shared <see cref="ServerNode{TCommand,TResult}"/>: TCP transport, fault filter,
/// shared log, placement layer) running a <see cref="QueueMachine"/> per queue group, and telling waiting receives
/// when a group applied something.</summary>
public sealed class QueueNode : ServerNode<QueueOp, QueueReply>
{
    private readonly ConcurrentDictionary<long, TaskCompletionSource> _changed;

    public QueueNode(IOptions<QueueServerOptions> options, ILoggerFactory loggers, IMeterFactory meters)
        : this(options.Value, new ConcurrentDictionary<long, TaskCompletionSource>(), loggers, meters) { }

    private QueueNode(QueueServerOptions options, ConcurrentDictionary<long, TaskCompletionSource> changed, ILoggerFactory loggers, IMeterFactory meters)
        : base(options, (_, id) => new QueueMachine(_ => Pulse(changed, id)), loggers, meters)
    {
        Options = options;
        _changed = changed;
    }

    /// <summary>The settings.</summary>
    public QueueServerOptions Options { get; }

    /// <summary>Completes the next time group <paramref name="groupId"/> applies a command (or restores a snapshot) here.
    /// Take it before looking at the group's state, so nothing applied in between is missed.</summary>
    public Task Changed(long groupId) =>
        _changed.GetOrAdd(groupId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    // On the node loop: swap in a fresh source and complete the old one (its continuations run elsewhere).
    private static void Pulse(ConcurrentDictionary<long, TaskCompletionSource> changed, long groupId)
    {
        if (changed.TryRemove(groupId, out var waiting)) waiting.TrySetResult();
    }
}
