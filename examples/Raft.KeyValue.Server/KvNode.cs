using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Raft.Server;

namespace Raft.KeyValue.Server;

/// <summary>This process's node (the shared <see cref="ServerNode{TCommand,TResult}"/>: TCP transport, fault filter,
/// shared log, placement layer) running a <see cref="KeyRegister"/> per group (one key each under per-key placement,
/// many under hash placement).</summary>
public sealed class KvNode : ServerNode<KvWrite, KvWriteResult>
{
    private readonly KeyAppliedFanout _applied;

    public KvNode(IOptions<KvServerOptions> options, ILoggerFactory loggers, IMeterFactory meters)
        : this(options.Value, new KeyAppliedFanout(), loggers, meters) { }

    private KvNode(KvServerOptions options, KeyAppliedFanout applied, ILoggerFactory loggers, IMeterFactory meters)
        : base(options, (node, id) => new KeyRegister(id, applied, () => node.Placement?.Directory.FindGroup(id)?.Name), loggers, meters)
    {
        Options = options;
        _applied = applied;
    }

    /// <summary>The settings.</summary>
    public KvServerOptions Options { get; }

    /// <summary>Adds an observer of every write applied on this node, in any key's group.</summary>
    public void ObserveApplied(IKeyApplied observer) => _applied.Add(observer);
}
