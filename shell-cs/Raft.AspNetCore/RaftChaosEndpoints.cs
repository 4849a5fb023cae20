using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Raft.Node;
using Raft.Transport.Faults;

namespace Raft.AspNetCore;

/// <summary>Hands leadership of <paramref name="groupId"/> to <paramref name="target"/>; called on the node that leads it.</summary>
public delegate Task RaftLeaderTransfer(long groupId, long target, CancellationToken cancellationToken);

/// <summary>
/// Chaos admin endpoints for any Raft server (the key-value server, a queue server): partition this node from peers
/// through its <see cref="TransportFaultFilter"/>, heal, and move a group's leadership. Off by default; when enabled
/// every request needs <c>Authorization: Bearer &lt;token&gt;</c> (none: 401, wrong: 403), compared in constant time.
/// Bad parameters answer 400 as <c>application/problem+json</c> naming the parameter.
/// </summary>
public static class RaftChaosEndpoints
{
    /// <summary>
    /// Maps, under <paramref name="prefix"/>: <c>POST partition?peers=2,3&amp;direction=both|in|out</c> (added to the
    /// partitions in place), <c>POST heal</c> (removes them all), and, when <paramref name="transferLeader"/> is given,
    /// <c>POST transfer-leader?group=G&amp;to=N</c>. Each answers the filter's state. Maps nothing when
    /// <paramref name="options"/> is not enabled.
    /// </summary>
    /// <param name="endpoints">The application's routes.</param>
    /// <param name="options">Whether the endpoints exist, and their token.</param>
    /// <param name="localId">This node's id (a node cannot be partitioned from itself).</param>
    /// <param name="faults">The filter of this node's transport (<see cref="FaultFilterTransport{TMessage}"/>).</param>
    /// <param name="transferLeader">How to move a group's leadership; no <c>transfer-leader</c> endpoint when null.</param>
    /// <param name="prefix">Where the endpoints live.</param>
    /// <exception cref="ArgumentException">The options are invalid (enabled without a token of at least
    /// <see cref="RaftChaosOptions.MinTokenLength"/> characters).</exception>
    public static void MapRaftChaos(this IEndpointRouteBuilder endpoints, RaftChaosOptions options, long localId, TransportFaultFilter faults,
        RaftLeaderTransfer? transferLeader = null, string prefix = "/admin")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(faults);
        if (!options.Enabled) return;
        if (options.Validate("Chaos") is [var problem, ..]) throw new ArgumentException(problem, nameof(options));
        var token = Encoding.UTF8.GetBytes(options.Token);
        var admin = endpoints.MapGroup(prefix).AddEndpointFilter((context, next) =>
            Authorized(context.HttpContext.Request, token) is { } refused ? ValueTask.FromResult<object?>(refused) : next(context));
        admin.MapPost("/partition", (string? peers, string? direction) =>
        {
            if (ParseDirection(direction) is not { } d) return BadParameter("direction", $"direction must be both, in or out (is '{direction}')");
            if (ParsePeers(peers, localId) is not { } ids)
                return BadParameter("peers", $"peers must be a comma-separated list of positive node ids other than this node's ({localId}), like 2,3 (is '{peers}')");
            faults.Partition(ids, d);
            return State(faults);
        });
        admin.MapPost("/heal", () =>
        {
            faults.Heal();
            return State(faults);
        });
        if (transferLeader is null) return;
        admin.MapPost("/transfer-leader", async (string? group, string? to, CancellationToken ct) =>
        {
            if (!long.TryParse(group, out var g) || g < 0) return BadParameter("group", $"group must be a group id, a number of at least 0 (is '{group}')");
            if (!long.TryParse(to, out var target) || target <= 0 || target == localId)
                return BadParameter("to", $"to must be the positive id of another node (is '{to}')");
            try { await transferLeader(g, target, ct); }
            catch (GroupNotFoundException e) { return Problem(404, "no such group", e.Message); }
            catch (LeadershipTransferException e) { return Problem(409, "transfer refused", $"{e.Message} (call it on the group's leader)"); }
            catch (RaftTimeoutException e) { return Problem(504, "timed out", e.Message); }
            return Results.Json(new { group = g, leader = target });
        });
    }

    /// <summary>401 without a bearer token, 403 with a wrong one, null when it matches.</summary>
    private static IResult? Authorized(HttpRequest request, byte[] token)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return new WithHeader(Problem(401, "token required", "chaos endpoints need Authorization: Bearer <token>"), "WWW-Authenticate", "Bearer");
        var given = Encoding.UTF8.GetBytes(header[scheme.Length..].Trim());
        // Constant time in the content (only the length can leak), so a caller cannot find the token byte by byte.
        return CryptographicOperations.FixedTimeEquals(given, token) ? null : Problem(403, "wrong token", "the bearer token does not match");
    }

    private static PartitionDirection? ParseDirection(string? text) => (text ?? "both") switch
    {
        "both" => PartitionDirection.Both,
        "in" => PartitionDirection.Inbound,
        "out" => PartitionDirection.Outbound,
        _ => null,
    };

    private static long[]? ParsePeers(string? text, long localId)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var ids = new List<long>();
        foreach (var part in text.Split(','))
        {
            if (!long.TryParse(part.Trim(), out var id) || id <= 0 || id == localId) return null;
            ids.Add(id);
        }
        return [.. ids];
    }

    private static IResult State(TransportFaultFilter faults) =>
        Results.Json(new { inbound = faults.Inbound.Order().ToArray(), outbound = faults.Outbound.Order().ToArray() });

    private static IResult BadParameter(string name, string detail) =>
        Results.Problem(detail, statusCode: 400, title: $"bad {name}", extensions: new Dictionary<string, object?> { ["parameter"] = name });

    private static IResult Problem(int status, string title, string detail) => Results.Problem(detail, statusCode: status, title: title);

    /// <summary>A result with one extra response header (WWW-Authenticate on a 401).</summary>
    private sealed class WithHeader(IResult inner, string name, string value) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.Headers[name] = value;
            return inner.ExecuteAsync(http);
        }
    }
}
