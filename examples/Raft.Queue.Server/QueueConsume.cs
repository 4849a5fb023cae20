using System.Globalization;
using System.Text;
using Raft.Server;

namespace Raft.Queue.Server;

/// <summary>
/// Consuming: <c>POST /queues/{name}/receive?max=N&amp;wait=20s&amp;visibility=30s</c> delivers up to N messages (1 when
/// not given), each with a receipt, invisible to other receives for the visibility (the queue's visibilityTimeoutMs
/// when not given); with <c>wait</c> it long-polls: it answers as soon as a message can be delivered, or with an empty
/// list when the wait is over (never later than the wait plus one request timeout). <c>DELETE
/// /queues/{name}/messages/{receipt}</c> acks a delivery, <c>POST /queues/{name}/messages/{receipt}/nack</c> returns its
/// message at once; a receipt whose delivery is over (its visibility passed, or redelivered) answers 409, one whose
/// message is gone (acked, or dead) 410.
/// </summary>
public static class QueueConsume
{
    /// <summary>The longest <c>wait</c>.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(2);

    public static void MapQueueConsume(this WebApplication app)
    {
        app.MapPost("/queues/{name}/receive", ReceiveAsync);
        app.MapDelete("/queues/{name}/messages/{receipt}", (string name, string receipt, QueueNode node, CancellationToken ct) => FinishAsync(name, receipt, ack: true, node, ct));
        app.MapPost("/queues/{name}/messages/{receipt}/nack", (string name, string receipt, QueueNode node, CancellationToken ct) => FinishAsync(name, receipt, ack: false, node, ct));
    }

    private static async Task<IResult> ReceiveAsync(string name, HttpContext http, QueueNode node, CancellationToken ct)
    {
        if (QueueCalls.BadName(name) is { } bad) return bad;
        var query = http.Request.Query;
        var max = 1;
        if (query.TryGetValue("max", out var maxText) && (!int.TryParse(maxText, NumberStyles.None, CultureInfo.InvariantCulture, out max) || max < 1 || max > node.Options.MaxReceive))
            return QueueCalls.Problem(400, "bad max", $"max must be within 1-{node.Options.MaxReceive} (Queue:MaxReceive; is '{maxText}')");
        if (Duration(query, "wait", TimeSpan.Zero, MaxWait, out var wait) is { } badWait) return badWait;
        if (Visibility(query, out var visibility) is { } badVisibility) return badVisibility;
        var stopping = http.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var waitEnds = CancellationTokenSource.CreateLinkedTokenSource(ct, stopping);
        var started = TimeProvider.System.GetTimestamp();
        return await QueueCalls.Answer(node, name, async () =>
        {
            var placement = await QueueCalls.FindAsync(node, name, ct);
            if (placement is null) return QueueCalls.NoSuchQueue(name);
            while (true)
            {
                var changed = node.Changed(placement.GroupId);
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                // This node's copy says whether a receive can deliver anything: an empty receive costs no Raft round trip.
                var state = await node.Placement.ReadAsync(name, sm => sm is QueueMachine q ? (q.Settings is not null, q.AvailableAt(now), q.NextDeadline) : default,
                    stale: true, node.Options.RequestTimeout, ct);
                if (state is { Found: true, Value.Item2: > 0 })
                {
                    var r = await QueueCalls.ProposeAsync(node, name, new Receive(max, (long)visibility.TotalMilliseconds), ct);
                    if (r is null) return QueueCalls.NoSuchQueue(name);
                    if (r.Deliveries is { Length: > 0 } delivered) return Delivered(delivered);
                }
                var left = wait - TimeProvider.System.GetElapsedTime(started);
                if (left <= TimeSpan.Zero) return Delivered([]);
                // Woken by anything applied in the group, or when the first delivery in flight expires.
                if (state.Value.Item3 is { } deadline) left = TimeSpan.FromMilliseconds(Math.Clamp(deadline - now + 1, 1, left.TotalMilliseconds));
                try { await changed.WaitAsync(left, waitEnds.Token); }
                catch (TimeoutException) { }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return Delivered([]); } // the server stops
            }
        }, extra: wait);
    }

    private static async Task<IResult> FinishAsync(string name, string receipt, bool ack, QueueNode node, CancellationToken ct)
    {
        if (QueueCalls.BadName(name) is { } bad) return bad;
        var dot = receipt.IndexOf('.');
        if (dot < 1 || !long.TryParse(receipt.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            || !int.TryParse(receipt.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var delivery) || id < 1 || delivery < 1)
            return QueueCalls.Problem(400, "bad receipt", $"the receipt '{receipt}' is not one a receive answered (message id '.' delivery, like 42.1)");
        var verb = ack ? "ack" : "nack";
        return await QueueCalls.Answer(node, name, async () =>
        {
            var r = await QueueCalls.ProposeAsync(node, name, ack ? new Ack(id, delivery) : new Nack(id, delivery), ct);
            return r switch
            {
                null => QueueCalls.NoSuchQueue(name),
                { Status: QueueStatus.ReceiptExpired } => QueueCalls.Problem(409, "receipt expired",
                    $"{verb} of {receipt}: that delivery of message {id} is over (its visibility passed or it was delivered again, now delivery {r.Count}); the message was not {verb}ed"),
                { Status: QueueStatus.ReceiptGone } => QueueCalls.Problem(410, "message gone", $"{verb} of {receipt}: message {id} is no longer in queue '{name}' (acked, or dead)"),
                _ => Results.NoContent(),
            };
        });
    }

    private static IResult Delivered(Delivered[] messages) => Results.Json(new { messages = messages.Select(Message) }, QueueEndpoints.Json);

    /// <summary>A delivery as receive and the stream answer it: id, receipt, delivery count, deadline, body (as text and base64).</summary>
    internal static object Message(Delivered m) => new
    {
        id = m.Id,
        receipt = m.Receipt,
        delivery = m.Delivery,
        deadline = m.Deadline,
        body = Encoding.UTF8.GetString(m.Body),
        bodyBase64 = Convert.ToBase64String(m.Body),
    };

    /// <summary>The <c>visibility</c> parameter (zero when not given: the queue's own); a 400 naming it when bad.</summary>
    internal static IResult? Visibility(IQueryCollection query, out TimeSpan visibility)
    {
        if (Duration(query, "visibility", TimeSpan.Zero, TimeSpan.FromMilliseconds(QueueSettings.MaxVisibilityMs), out visibility) is { } bad) return bad;
        return query.ContainsKey("visibility") && visibility < TimeSpan.FromMilliseconds(1)
            ? QueueCalls.Problem(400, "bad visibility", "visibility must be at least 1ms") : null;
    }

    private static IResult? Duration(IQueryCollection query, string name, TimeSpan none, TimeSpan max, out TimeSpan value)
    {
        value = none;
        if (!query.TryGetValue(name, out var given)) return null;
        var text = given.ToString();
        if (Durations.Parse(text) is not { } parsed)
            return QueueCalls.Problem(400, $"bad {name}", $"{name} must be a duration like 30s, 500ms or 2m (is '{text}')");
        if (parsed > max) return QueueCalls.Problem(400, $"bad {name}", $"{name} may be at most {max.TotalSeconds:0}s (is '{text}')");
        value = parsed;
        return null;
    }
}
