using System.Globalization;
using Raft.Server;

namespace Raft.Queue.Server;

/// <summary>
/// Streaming consume: <c>GET /queues/{name}/stream?credit=N&amp;visibility=30s</c> answers <c>text/event-stream</c>:
/// first an event <c>stream</c> (<c>{stream, node, queue, credit, visibilityMs}</c>), then one event <c>message</c>
/// per delivery (<c>{id, receipt, delivery, deadline, body, bodyBase64}</c>, as a receive answers them). Credit-based
/// flow control: the stream never has more than <c>credit</c> deliveries outstanding; a delivery stops counting once it
/// is over (acked through the usual <c>DELETE /queues/{name}/messages/{receipt}</c> on any node, nacked, or past its
/// visibility), so every ack grants one more. A stream the client closes leaves its unacked deliveries to their
/// visibility timeout (then they are delivered again): nothing is lost. Bad parameters answer 400 before the stream
/// starts; a failure while it runs (no leader for a moment) is an event <c>problem</c> and the stream carries on; a
/// deleted queue ends it with an event <c>end</c>.
/// </summary>
public static class QueueStream
{
    public static void MapQueueStream(this WebApplication app) => app.MapGet("/queues/{name}/stream", OpenAsync);

    private static async Task<IResult> OpenAsync(string name, HttpContext http, QueueNode node, CancellationToken ct)
    {
        if (QueueCalls.BadName(name) is { } bad) return bad;
        var query = http.Request.Query;
        var credit = 1;
        if (query.TryGetValue("credit", out var creditText)
            && (!int.TryParse(creditText, NumberStyles.None, CultureInfo.InvariantCulture, out credit) || credit < 1 || credit > node.Options.MaxReceive))
            return QueueCalls.Problem(400, "bad credit", $"credit must be within 1-{node.Options.MaxReceive} (Queue:MaxReceive; is '{creditText}')");
        if (QueueConsume.Visibility(query, out var visibility) is { } badVisibility) return badVisibility;
        return await QueueCalls.Answer(node, name, async () =>
        {
            if (await QueueCalls.FindAsync(node, name, ct) is not { } placement) return QueueCalls.NoSuchQueue(name);
            // This node's copy: throws NotPlacedHere when it holds none. Then the stream is forwarded to a member, and
            // relayed as it comes; the request timeout bounds only the wait for its headers, which a stream sends at once.
            var exists = await node.Placement.ReadAsync(name, sm => sm is QueueMachine { Settings: not null }, stale: true, node.Options.RequestTimeout, ct);
            return exists is { Found: true, Value: true }
                ? new QueueStreamLoop(node, name, placement.GroupId, credit, (long)visibility.TotalMilliseconds)
                : QueueCalls.NoSuchQueue(name);
        });
    }
}
