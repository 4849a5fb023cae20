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
/// every request needs <c>Authorization: Bearer &lt;token&gt;</c> or an allowed client certificate (none: 401, wrong:
/// 403), the token compared in constant time. Bad parameters answer 400 as <c>application/problem+json</c> naming the
/// parameter. <see cref="RaftAdminEndpoints.MapRaftAdmin{TCommand,TResult}"/> maps these and the rest (pause, kill,
/// reset, rebalance, state, members) for a placement node.
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
    /// <param name="options">Whether the endpoints exist, and who may call them.</param>
    /// <param name="localId">This node's id (a node cannot be partitioned from itself).</param>
    /// <param name="faults">The filter of this node's transport (<see cref="FaultFilterTransport{TMessage}"/>).</param>
    /// <param name="transferLeader">How to move a group's leadership; no <c>transfer-leader</c> endpoint when null.</param>
    /// <param name="prefix">Where the endpoints live.</param>
    /// <exception cref="ArgumentException">The options are invalid (enabled without a token of at least
    /// <see cref="RaftChaosOptions.MinTokenLength"/> characters or a client certificate rule).</exception>
    public static void MapRaftChaos(this IEndpointRouteBuilder endpoints, RaftChaosOptions options, long localId, TransportFaultFilter faults,
        RaftLeaderTransfer? transferLeader = null, string prefix = "/admin")
    {
        if (Group(endpoints, options, prefix) is { } admin) MapFaults(admin, localId, faults, transferLeader);
    }

    /// <summary>The authorized route group under <paramref name="prefix"/>, or null when the endpoints are off.</summary>
    internal static RouteGroupBuilder? Group(IEndpointRouteBuilder endpoints, RaftChaosOptions options, string prefix)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Enabled) return null;
        if (options.Validate("Chaos") is [var problem, ..]) throw new ArgumentException(problem, nameof(options));
        var auth = new RaftAdminAuth(options);
        return endpoints.MapGroup(prefix).AddEndpointFilter((context, next) =>
            auth.Check(context.HttpContext) is { } refused ? ValueTask.FromResult<object?>(refused) : next(context));
    }

    /// <summary>partition, heal and (with <paramref name="transferLeader"/>) transfer-leader on <paramref name="admin"/>.</summary>
    internal static void MapFaults(RouteGroupBuilder admin, long localId, TransportFaultFilter faults, RaftLeaderTransfer? transferLeader)
    {
        ArgumentNullException.ThrowIfNull(faults);
        admin.MapPost("/partition", (string? peers, string? direction) =>
        {
            if (ParseDirection(direction) is not { } d) return BadParameter("direction", $"direction must be both, in or out (is '{direction}')");
            if (ParsePeers(peers, localId) is not { } ids)
                return BadParameter("peers", $"peers must be a comma-separated list of positive node ids other than this node's ({localId}), like 2,3 (is '{peers}')");
            faults.Partition(ids, d);
            return Results.Json(State(faults));
        });
        admin.MapPost("/heal", () =>
        {
            faults.Heal();
            return Results.Json(State(faults));
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

    /// <summary>The peers this node's traffic is cut from, each way.</summary>
    internal static object State(TransportFaultFilter faults) =>
        new { inbound = faults.Inbound.Order().ToArray(), outbound = faults.Outbound.Order().ToArray() };

    internal static IResult BadParameter(string name, string detail) =>
        Results.Problem(detail, statusCode: 400, title: $"bad {name}", extensions: new Dictionary<string, object?> { ["parameter"] = name });

    internal static IResult Problem(int status, string title, string detail) => Results.Problem(detail, statusCode: status, title: title);
}
