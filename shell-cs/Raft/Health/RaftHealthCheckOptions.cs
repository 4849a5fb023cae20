namespace Raft.Health;

/// <summary>Settings of the Raft readiness check.</summary>
public sealed class RaftHealthCheckOptions
{
    /// <summary>The most entries a group's applied index may trail its commit index while the node is ready.</summary>
    public long MaxApplyLag { get; set; } = 10_000;
}

/// <summary>The tags of the Raft health checks, for <c>MapHealthChecks</c> predicates.</summary>
public static class RaftHealthTags
{
    /// <summary>Liveness: the node loop runs, no group is faulted, storage is writable. Restart the process when unhealthy.</summary>
    public const string Live = "live";

    /// <summary>Readiness: every group has a known leader (or lost it less than an election timeout ago) and has applied
    /// what it committed within <see cref="RaftHealthCheckOptions.MaxApplyLag"/>. Route no traffic here when unhealthy.</summary>
    public const string Ready = "ready";
}
