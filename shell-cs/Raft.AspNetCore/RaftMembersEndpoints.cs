using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Raft.MultiRaft;

namespace Raft.AspNetCore;

/// <summary>
/// A placement node's membership over HTTP: <c>GET</c> lists the members (open), <c>POST</c> adds one
/// (<c>{"id", "raftEndpoint", "apiUrl"}</c>) and <c>DELETE {id}</c> removes one, both behind the admin credentials
/// (<see cref="RaftAdminRequirement.RequireRaftAdmin{TBuilder}"/>): whoever can change the members can add a node of
/// theirs to every group or remove the majority.
/// </summary>
public static class RaftMembersEndpoints
{
    /// <summary>Maps <c>GET</c>, <c>POST</c> <paramref name="path"/> and <c>DELETE</c> <paramref name="path"/><c>/{id}</c>;
    /// the two changes need the credentials of <paramref name="options"/> (401 / 403, and 403 naming
    /// <paramref name="section"/><c>:Token</c> when none is configured), whether or not its chaos endpoints are enabled.</summary>
    /// <param name="endpoints">The application's routes.</param>
    /// <param name="node">The placement node whose directory holds the members.</param>
    /// <param name="options">The admin credentials.</param>
    /// <param name="section">Where <paramref name="options"/> are configured (e.g. <c>Kv:Chaos</c>), named in refusals.</param>
    /// <param name="requestTimeout">How long one change may take before it answers 504.</param>
    /// <param name="path">Where the endpoints live.</param>
    /// <exception cref="ArgumentException">The credentials are invalid (<see cref="RaftChaosOptions.Validate"/>).</exception>
    public static void MapRaftMembers<TCommand, TResult>(this IEndpointRouteBuilder endpoints, MultiRaftNode<TCommand, TResult> node,
        RaftChaosOptions options, string section, TimeSpan requestTimeout, string path = "/cluster/members")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(node);
        endpoints.MapGet(path, () => Results.Json(node.Directory.Members()));
        var log = endpoints.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("Raft.AspNetCore.Members");
        var (add, remove) = MapChanges(endpoints, path, node, requestTimeout, log);
        add.RequireRaftAdmin(options, section);
        remove.RequireRaftAdmin(options, section);
        if (!options.HasCredentials) log.LogWarning("Membership changes ({Path}) are refused: {Why}", path, RaftAdminRequirement.NoCredential(section));
    }

    /// <summary><c>POST</c> <paramref name="path"/> and <c>DELETE</c> <paramref name="path"/><c>/{id}</c>, unguarded (the
    /// caller adds the check). Each reads its own input, so a guard runs before any of it is parsed.</summary>
    internal static (RouteHandlerBuilder Add, RouteHandlerBuilder Remove) MapChanges<TCommand, TResult>(IEndpointRouteBuilder routes, string path,
        MultiRaftNode<TCommand, TResult> node, TimeSpan requestTimeout, ILogger log)
    {
        var add = routes.MapPost(path, async (HttpContext http, CancellationToken ct) =>
        {
            ClusterMember? member;
            try { member = await http.Request.ReadFromJsonAsync<ClusterMember>(ct); }
            // Not JSON, or not of a JSON content type: both are a bad body.
            catch (Exception e) when (e is JsonException or InvalidOperationException) { member = null; log.LogDebug(e, "bad member body"); }
            if (member is null || member.Id <= 0)
                return RaftChaosEndpoints.BadParameter("body", "the body must be {\"id\": positive, \"raftEndpoint\": \"host:port\", \"apiUrl\": \"http://...\"}");
            return await RaftAdminEndpoints.Answer($"member {member.Id}", async () =>
            {
                await node.AddMemberAsync(member, requestTimeout, ct);
                return Results.Json(node.Directory.Members());
            }) ?? Results.Empty;
        });
        var remove = routes.MapDelete(path + "/{id}", async (string id, CancellationToken ct) =>
        {
            if (!long.TryParse(id, out var memberId) || memberId <= 0) return RaftChaosEndpoints.BadParameter("id", $"id must be a positive member id (is '{id}')");
            return await RaftAdminEndpoints.Answer($"member {memberId}", async () =>
            {
                await node.RemoveMemberAsync(memberId, requestTimeout, ct);
                return null;
            }) ?? Results.NoContent();
        });
        return (add, remove);
    }
}
