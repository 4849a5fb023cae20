using Raft.MultiRaft;
using Raft.Node;
using Raft.Server;

namespace Raft.Queue.Server;

/// <summary>What every queue endpoint does around its command: checks the name, finds the queue (404 when it has no
/// group), proposes to its group (through the library to the group's leader; over HTTP to a member when this node
/// replicates none), and maps the library's failures to problem documents.</summary>
internal static class QueueCalls
{
    /// <summary>The headers a forwarded queue request carries on.</summary>
    private static readonly string[] ForwardedHeaders = ["Idempotency-Key"];

    /// <summary>Runs <paramref name="call"/> with the library's failures mapped; a queue this node does not replicate is
    /// forwarded, given <paramref name="extra"/> time beyond the request timeout (a long poll's wait).</summary>
    public static Task<IResult> Answer(QueueNode node, string subject, Func<Task<IResult>> call, TimeSpan extra = default) =>
        ServerProblems.Answer(subject, call, e => new ServerForward(node, e.Members, node.Options.RequestTimeout + extra, ForwardedHeaders));

    /// <summary>A 400 naming the name's rule, or null when <paramref name="name"/> is a queue name.</summary>
    public static IResult? BadName(string name) =>
        QueueNames.IsValid(name) ? null : Problem(400, "bad queue name", $"the queue name '{name}' is not {QueueNames.Rule}");

    /// <summary>The queue's placement (a linearizable look-up when this node's directory does not have it); null when
    /// there is no such queue.</summary>
    public static async Task<GroupPlacement?> FindAsync(QueueNode node, string name, CancellationToken ct) =>
        node.Placement.Directory.Find(name) ?? await node.Placement.FindAsync(name, node.Options.RequestTimeout, ct);

    /// <summary>Proposes <paramref name="op"/> to an existing queue; null when there is none (a group a racing publish
    /// made for a deleted queue is released again).</summary>
    public static async Task<QueueReply?> ProposeAsync(QueueNode node, string name, QueueOp op, CancellationToken ct)
    {
        if (await FindAsync(node, name, ct) is null) return null;
        var r = await node.Placement.ProposeAsync(name, op with { Now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }, node.Options.RequestTimeout, ct);
        if (r.Result.Status != QueueStatus.NoSuchQueue) return r.Result;
        try { await node.Placement.ReleaseAsync(name, r.Index, node.Options.RequestTimeout, ct); }
        catch (Exception e) when (e is RaftException or TimeoutException) { } // another publish's release, or the next one, removes it
        return null;
    }

    public static IResult NoSuchQueue(string name) => Problem(404, "no such queue", $"queue '{name}' does not exist");

    public static IResult Problem(int status, string title, string detail) => ServerProblems.Problem(status, title, detail);
}
