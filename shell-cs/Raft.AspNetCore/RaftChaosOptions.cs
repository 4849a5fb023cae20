namespace Raft.AspNetCore;

/// <summary>Settings of the chaos admin endpoints (<see cref="RaftChaosEndpoints.MapRaftChaos"/>,
/// <see cref="RaftAdminEndpoints.MapRaftAdmin{TCommand,TResult}"/>): off unless enabled, and then only for callers
/// presenting <see cref="Token"/> as a bearer token, or a client certificate (over HTTPS) whose thumbprint is in
/// <see cref="AllowedThumbprints"/> or that chains to the CA in <see cref="ClientCaPath"/>. The same credentials guard
/// the membership changes (<see cref="RaftMembersEndpoints"/>) whether or not the chaos endpoints are enabled: a server
/// has one set of admin credentials.</summary>
public sealed class RaftChaosOptions
{
    /// <summary>The shortest token accepted: a guessable secret would make the endpoints a remote off-switch.</summary>
    public const int MinTokenLength = 16;

    /// <summary>Maps the endpoints; when false (the default) they do not exist (404).</summary>
    public bool Enabled { get; set; }

    /// <summary>The bearer token a request may carry (<c>Authorization: Bearer ...</c>); empty for certificate-only
    /// access. Required for <c>reset</c>: a reset node asks a member to add it back with it.</summary>
    public string Token { get; set; } = "";

    /// <summary>Client certificates allowed in, by SHA-256 or SHA-1 thumbprint (hex; case, spaces and colons ignored).</summary>
    public List<string> AllowedThumbprints { get; set; } = [];

    /// <summary>A PEM file of CA certificates: a client certificate that chains to one of them (and is valid now) is allowed in.</summary>
    public string ClientCaPath { get; set; } = "";

    /// <summary>How long <c>reset</c> waits for every group to stop counting this node as a voter before it answers 504.</summary>
    public TimeSpan ResetTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Whether a client certificate may authorize a request.</summary>
    public bool UsesCertificates => AllowedThumbprints.Count > 0 || ClientCaPath.Length > 0;

    /// <summary>Whether any credential is configured (without one, admin endpoints refuse every caller).</summary>
    public bool HasCredentials => Token.Length > 0 || UsesCertificates;

    /// <summary>Every problem, each naming its key under <paramref name="section"/> (e.g. <c>Kv:Chaos</c>); empty when
    /// valid. The credentials are checked whenever they are set (they guard membership changes even with the chaos
    /// endpoints off); <see cref="Enabled"/> additionally needs one of them.</summary>
    public IReadOnlyList<string> Validate(string section)
    {
        var errors = new List<string>();
        if (Enabled && !HasCredentials)
            errors.Add($"{section}:Token (at least {MinTokenLength} characters), {section}:AllowedThumbprints or {section}:ClientCaPath must be set when {section}:Enabled is true");
        else if (Token.Length > 0 && Token.Length < MinTokenLength)
            errors.Add($"{section}:Token must be at least {MinTokenLength} characters (is {Token.Length}): it guards membership changes and the chaos endpoints");
        for (var i = 0; i < AllowedThumbprints.Count; i++)
            if (RaftAdminAuth.NormalizeThumbprint(AllowedThumbprints[i]) is not { Length: 40 or 64 } t || !t.All(Uri.IsHexDigit))
                errors.Add($"{section}:AllowedThumbprints:{i} must be a SHA-1 (40) or SHA-256 (64) hex thumbprint (is '{AllowedThumbprints[i]}')");
        if (ClientCaPath.Length > 0 && !File.Exists(ClientCaPath)) errors.Add($"{section}:ClientCaPath '{ClientCaPath}' does not exist");
        if (Enabled && ResetTimeout <= TimeSpan.Zero) errors.Add($"{section}:ResetTimeout must be positive (is {ResetTimeout})");
        return errors;
    }
}
