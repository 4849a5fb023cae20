using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Raft.MultiRaft;
using Raft.Node;
using Raft.Transport.Faults;

namespace Raft.AspNetCore;

/// <summary>
/// The whole admin surface of a placement node (<see cref="MultiRaftNode{TCommand,TResult}"/>: the key-value server,
/// the queue server), behind the same switch and credentials as <see cref="RaftChaosEndpoints"/>: partition, heal and
/// transfer-leader, plus <c>pause</c> / <c>resume</c>, <c>kill</c>, <c>reset</c>, <c>rebalance</c>, <c>state</c> and
/// <c>members</c>.
/// </summary>
public static class RaftAdminEndpoints
{
    /// <summary>
    /// Maps under <see cref="RaftAdminSettings.Prefix"/> (nothing when <paramref name="options"/> is not enabled):
    /// <list type="bullet">
    /// <item><c>POST pause</c> / <c>POST resume</c>: the node stops stepping and answering as in a long GC pause; other
    /// HTTP requests are held, 503 after the request timeout (the admin endpoints and <c>/raft/status</c> still answer).</item>
    /// <item><c>POST kill</c>: 202, then the process dies by SIGKILL (no flush).</item>
    /// <item><c>POST reset</c>: removes this node from the members, waits until no group counts it as a voter (504 with
    /// the reason after <see cref="RaftChaosOptions.ResetTimeout"/>), leaves the wipe marker, answers 202 and dies; the
    /// next start wipes the data, joins and asks to be added back (<see cref="RaftReset"/>).</item>
    /// <item><c>POST rebalance</c>: one leader-balancer round now. <c>GET state</c>: paused, partitions, members and this
    /// node's groups with their roles.</item>
    /// <item><c>GET members</c>, <c>POST members</c> (<c>{"id", "raftEndpoint", "apiUrl"}</c>), <c>DELETE members/{id}</c>.</item>
    /// </list>
    /// When <see cref="RaftAdminSettings.Rejoin"/> is set, the node asks a member to add it back once the application started.
    /// </summary>
    /// <returns>The pause gate (null when the endpoints are off).</returns>
    public static RaftPauseGate? MapRaftAdmin<TCommand, TResult>(this WebApplication app, RaftChaosOptions options, MultiRaftNode<TCommand, TResult> node,
        TransportFaultFilter faults, RaftAdminSettings settings)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(settings);
        var client = settings.Client ?? new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Raft.AspNetCore.Admin");
        if (settings.Rejoin)
            app.Lifetime.ApplicationStarted.Register(() => _ = RaftReset.RejoinAsync(node, settings.Self, settings.Members, options.Token,
                settings.DataDirectory, client, log, app.Lifetime.ApplicationStopping));
        if (RaftChaosEndpoints.Group(app, options, settings.Prefix) is not { } admin) return null;
        RaftChaosEndpoints.MapFaults(admin, node.NodeId, faults, (group, target, ct) =>
            node.Host.GetGroup(group).TransferLeadershipAsync(target, settings.RequestTimeout, ct));

        var gate = new RaftPauseGate(node.Host.Pause, node.Host.Resume, settings.RequestTimeout);
        gate.Use(app, settings.Prefix, "/raft/status");
        // A stopping node is not paused: it hands off its leaderships and finishes its writes as any graceful stop does.
        app.Lifetime.ApplicationStopping.Register(gate.Resume);
        admin.MapPost("/pause", () =>
        {
            gate.Pause();
            return Results.Json(new { paused = true });
        });
        admin.MapPost("/resume", () =>
        {
            gate.Resume();
            return Results.Json(new { paused = false });
        });

        var kill = settings.Kill ?? (() => Process.GetCurrentProcess().Kill());
        admin.MapPost("/kill", async (HttpContext http) =>
        {
            log.LogWarning("Node {Node} kills itself (chaos)", node.NodeId);
            await AnswerThenDie(http, Results.Json(new { killed = node.NodeId }, statusCode: 202), kill);
        });
        admin.MapPost("/reset", (HttpContext http, CancellationToken ct) => ResetAsync(http, node, options, settings, client, kill, log, ct));

        admin.MapPost("/rebalance", async (CancellationToken ct) => Results.Json(new { transfers = await node.RebalanceAsync(ct) }));
        admin.MapGet("/state", () => Results.Json(new
        {
            nodeId = node.NodeId,
            paused = node.Host.Paused,
            partitions = RaftChaosEndpoints.State(faults),
            members = node.Directory.Members(),
            groups = node.Host.Groups.OrderBy(g => g.GroupId).Select(g => g.Status).Select(s => new
            {
                groupId = s.GroupId,
                name = s.GroupId == node.Options.DirectoryGroupId ? "(directory)" : node.Directory.FindGroup(s.GroupId)?.Name,
                role = s.Role, term = s.Term, leader = s.Leader,
            }),
        }, RaftStatusEndpoint.JsonOptions));

        admin.MapGet("/members", () => Results.Json(node.Directory.Members()));
        RaftMembersEndpoints.MapChanges(admin, "/members", node, settings.RequestTimeout, log);
        return gate;
    }

    private static async Task<IResult> ResetAsync<TCommand, TResult>(HttpContext http, MultiRaftNode<TCommand, TResult> node, RaftChaosOptions options,
        RaftAdminSettings settings, HttpClient client, Action kill, ILogger log, CancellationToken ct)
    {
        var self = node.NodeId;
        if (options.Token.Length == 0)
            return RaftChaosEndpoints.Problem(409, "reset refused", "reset needs a token (Chaos:Token): the wiped node asks a member to add it back with it");
        var members = node.Directory.Members();
        var others = members.Where(m => m.Id != self).ToArray();
        if (members.Count > 0 && others.Length == 0) return RaftChaosEndpoints.Problem(409, "reset refused", $"node {self} is the only member");
        try { await node.RemoveMemberAsync(self, settings.RequestTimeout, ct); }
        // Already removed: a reset that timed out waiting is retried, and only the wait is left.
        catch (PlacementException e) when (e.Reason == "not a member") { }
        // The outcome is unknown when the leader drops this node's connection as it applies the removal (its answer
        // is lost): the wait below tells whether it took effect.
        catch (Exception e) when (e is ForwardingFailedException or OutcomeUnknownException or RaftTimeoutException or TimeoutException)
        {
            log.LogInformation("Removing node {Node} ended without an answer ({Reason}); looking at the other members", self, e.Message);
        }
        catch (Exception e) when (e is PlacementException or RaftException)
        {
            return RaftChaosEndpoints.Problem(e is PlacementException ? 409 : 503, "reset refused", $"removing node {self} from the members failed: {e.Message}");
        }
        if (others.Length == 0) others = settings.Members.Where(m => m.Id != self).ToArray();
        var started = Stopwatch.GetTimestamp();
        while (await RaftReset.StillCountedAsync(others, self, client, ct) is { } reason)
        {
            if (Stopwatch.GetElapsedTime(started) > options.ResetTimeout)
                return RaftChaosEndpoints.Problem(504, "reset not finished",
                    $"node {self} was removed from the members, but after {options.ResetTimeout} {reason}; its data is untouched (call reset again to go on waiting, or add it back through POST members)");
            await Task.Delay(250, ct);
        }
        RaftReset.RequestWipe(settings.DataDirectory);
        log.LogWarning("Node {Node} left every group; it dies now and wipes its data at its next start (reset)", self);
        await AnswerThenDie(http, Results.Json(new { reset = self, detail = "removed from every group; start the node again: it wipes its data and rejoins" },
            statusCode: 202), kill);
        return Results.Empty;
    }

    /// <summary>How long the process lives after its last answer: Kestrel's socket transport writes asynchronously and
    /// signals no moment when the bytes reached the kernel (which sends what it holds even after the process dies).</summary>
    private static readonly TimeSpan AnswerGrace = TimeSpan.FromMilliseconds(250);

    /// <summary>Writes <paramref name="answer"/>, lets it leave, then dies without flushing anything else, like a crash.</summary>
    private static async Task AnswerThenDie(HttpContext http, IResult answer, Action kill)
    {
        http.Response.Headers.Connection = "close";
        await answer.ExecuteAsync(http);
        await http.Response.CompleteAsync();
        _ = Task.Run(async () =>
        {
            await Task.Delay(AnswerGrace);
            kill();
        });
    }

    /// <summary>Runs a placement call and maps the library's failures to problem documents.</summary>
    internal static async Task<IResult?> Answer(string subject, Func<Task<IResult?>> call)
    {
        try { return await call(); }
        catch (PlacementException e) when (e.Reason == "not a member") { return RaftChaosEndpoints.Problem(404, "no such member", e.Message); }
        catch (PlacementException e) { return RaftChaosEndpoints.Problem(409, "placement refused", e.Message); }
        catch (ArgumentException e) { return RaftChaosEndpoints.Problem(400, "bad request", e.Message); }
        catch (RaftTimeoutException e) { return RaftChaosEndpoints.Problem(504, "timed out", $"{subject}: {e.Message} (the change may still take effect)"); }
        catch (TimeoutException e) { return RaftChaosEndpoints.Problem(504, "timed out", $"{subject}: {e.Message}"); }
        catch (RaftException e) { return RaftChaosEndpoints.Problem(503, "not done", $"{subject}: {e.Message}"); }
    }
}
