using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Raft.AspNetCore;

/// <summary>Puts any endpoint behind the admin credentials of <see cref="RaftChaosOptions"/> (its token or client
/// certificate rules), whether or not the chaos endpoints themselves are enabled.</summary>
public static class RaftAdminRequirement
{
    /// <summary>
    /// Every request to the endpoints needs <c>Authorization: Bearer &lt;Token&gt;</c> or an allowed client certificate:
    /// 401 without either, 403 with a wrong one (<see cref="RaftAdminAuth"/>). With no credential configured at all the
    /// endpoints answer 403 naming the keys to set under <paramref name="section"/>: never open by omission. The check
    /// runs before the body is read.
    /// </summary>
    /// <param name="builder">The endpoints (a route handler or a group).</param>
    /// <param name="options">The credentials (the chaos options; <see cref="RaftChaosOptions.Enabled"/> is not looked at).</param>
    /// <param name="section">Where the options are configured, e.g. <c>Kv:Chaos</c>, named in the 403.</param>
    /// <exception cref="ArgumentException">The credentials are invalid (<see cref="RaftChaosOptions.Validate"/>).</exception>
    public static TBuilder RequireRaftAdmin<TBuilder>(this TBuilder builder, RaftChaosOptions options, string section)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate(section) is [var problem, ..]) throw new ArgumentException(problem, nameof(options));
        if (!options.HasCredentials)
        {
            var refused = Results.Problem(NoCredential(section), statusCode: 403, title: "no admin credential configured",
                extensions: new Dictionary<string, object?> { ["configuration"] = $"{section}:Token" });
            return builder.AddEndpointFilter((_, _) => ValueTask.FromResult<object?>(refused));
        }
        var auth = new RaftAdminAuth(options);
        return builder.AddEndpointFilter((context, next) =>
            auth.Check(context.HttpContext) is { } denied ? ValueTask.FromResult<object?>(denied) : next(context));
    }

    /// <summary>What to set so that the endpoints can be called.</summary>
    public static string NoCredential(string section) =>
        $"this server has no admin credential, so it refuses every caller: set {section}:Token (at least {RaftChaosOptions.MinTokenLength} characters), " +
        $"{section}:AllowedThumbprints or {section}:ClientCaPath";
}
