namespace Raft.AspNetCore;

/// <summary>Settings of the chaos admin endpoints (<see cref="RaftChaosEndpoints.MapRaftChaos"/>): off unless enabled,
/// and then only for callers presenting <see cref="Token"/> as a bearer token.</summary>
public sealed class RaftChaosOptions
{
    /// <summary>The shortest token accepted: a guessable secret would make the endpoints a remote off-switch.</summary>
    public const int MinTokenLength = 16;

    /// <summary>Maps the endpoints; when false (the default) they do not exist (404).</summary>
    public bool Enabled { get; set; }

    /// <summary>The bearer token every request must carry (<c>Authorization: Bearer ...</c>); required when enabled.</summary>
    public string Token { get; set; } = "";

    /// <summary>Every problem, each naming its key under <paramref name="section"/> (e.g. <c>Kv:Chaos</c>); empty when valid.</summary>
    public IReadOnlyList<string> Validate(string section)
    {
        if (!Enabled) return [];
        return Token.Length < MinTokenLength
            ? [$"{section}:Token must be at least {MinTokenLength} characters when {section}:Enabled is true (is {Token.Length})"]
            : [];
    }
}
