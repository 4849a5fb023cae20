namespace Raft.Tui;

/// <summary>One thing an action does, in order.</summary>
public abstract record ChaosStep;

/// <summary>An admin request (with the token): <paramref name="Method"/> on <paramref name="Url"/>, JSON
/// <paramref name="Body"/> when given.</summary>
public sealed record HttpStep(HttpMethod Method, string Url, string? Body = null) : ChaosStep;

/// <summary>A shell command (<c>sh -c</c>), e.g. the cluster script's <c>start-node</c>.</summary>
public sealed record RunStep(string CommandLine) : ChaosStep;

/// <summary>Poll <paramref name="Url"/> from now on (a node that joins).</summary>
public sealed record WatchStep(string Url) : ChaosStep;

/// <summary>What a command does: <see cref="Steps"/> in order (stopping at the first that fails unless
/// <see cref="Independent"/>: the same request to every node), or nothing and <see cref="Refusal"/> saying why.</summary>
public sealed record ChaosPlan(string Title, IReadOnlyList<ChaosStep> Steps, string? Refusal = null, bool Independent = false)
{
    public static ChaosPlan Refuse(string title, string why) => new(title, [], why);
}
