namespace Raft.Node;

/// <summary>
/// What operations tooling needs of a node, whatever its command and result types: health checks, the status
/// endpoint and dashboards resolve this from DI (<c>services.AddRaft&lt;...&gt;()</c> registers it) instead of the
/// generic <see cref="RaftNodeHost{TCommand,TResult}"/>.
/// </summary>
public interface IRaftNode
{
    /// <summary>This node's id.</summary>
    long NodeId { get; }

    /// <summary>The settings the node runs with (tick interval, election ticks, ...).</summary>
    RaftNodeOptions Options { get; }

    /// <summary>A status document of the node and every group on it (thread-safe; reads what the loop last published).</summary>
    NodeStatus GetStatus();
}
