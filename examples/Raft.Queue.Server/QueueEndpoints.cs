using System.Text.Json;
using Raft.Node;
using Raft.Server;

namespace Raft.Queue.Server;

/// <summary>The queue API: <c>PUT /queues/{name}</c> (settings in a JSON body), <c>DELETE /queues/{name}</c>,
/// <c>GET /queues</c> (depth and in-flight counts), <c>POST /queues/{name}/messages</c> (publish; see
/// <see cref="PublishAsync"/>) and the consuming endpoints of <see cref="QueueConsume"/> and <see cref="QueueStream"/>. Errors are
/// <c>application/problem+json</c> naming what is wrong.</summary>
public static class QueueEndpoints
{
    /// <summary>The longest <c>Idempotency-Key</c>.</summary>
    public const int MaxKeyLength = 200;

    public static void MapQueues(this WebApplication app)
    {
        app.MapPut("/queues/{name}", CreateAsync);
        app.MapDelete("/queues/{name}", DeleteAsync);
        app.MapGet("/queues", ListAsync);
        app.MapPost("/queues/{name}/messages", PublishAsync);
        app.MapQueueConsume();
        app.MapQueueStream();
    }

    private static async Task<IResult> CreateAsync(string name, HttpContext http, QueueNode node, CancellationToken ct)
    {
        if (QueueCalls.BadName(name) is { } bad) return bad;
        var body = await ReadBodyAsync(http, node.Options.MaxRequestBytes, ct);
        if (body is null) return TooLarge("the settings", node.Options.MaxRequestBytes);
        QueueSettings settings;
        try { settings = body.Length == 0 ? new QueueSettings() : JsonSerializer.Deserialize<QueueSettings>(body, Json) ?? new QueueSettings(); }
        catch (JsonException e) { return QueueCalls.Problem(400, "bad settings", $"the body must be the queue's settings as JSON ({e.Path}: {e.Message})"); }
        if (settings.Validate(name) is { Count: > 0 } errors) return QueueCalls.Problem(400, "bad settings", string.Join("; ", errors));
        http.Items[ServerForward.BodyItem] = body;
        return await QueueCalls.Answer(node, name, async () =>
        {
            var r = await node.Placement.ProposeAsync(name, new CreateQueue(name, settings) { Now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() },
                node.Options.RequestTimeout, ct);
            return r.Result.Status == QueueStatus.Exists
                ? QueueCalls.Problem(409, "queue exists", $"queue '{name}' exists with other settings; delete it first to change them")
                : Results.Json(new { name, settings }, Json);
        });
    }

    private static async Task<IResult> DeleteAsync(string name, QueueNode node, CancellationToken ct)
    {
        if (QueueCalls.BadName(name) is { } bad) return bad;
        return await QueueCalls.Answer(node, name, async () =>
            await node.Placement.ReleaseAsync(name, timeout: node.Options.RequestTimeout, cancellationToken: ct) ? Results.NoContent() : QueueCalls.NoSuchQueue(name));
    }

    /// <summary>Every queue this node knows of, with its counts as this node has applied them (null counts for a
    /// queue this node does not replicate).</summary>
    private static async Task<IResult> ListAsync(QueueNode node, CancellationToken ct)
    {
        var placements = node.Placement.Directory.List("", int.MaxValue);
        var listed = await Task.WhenAll(placements.Select(async p =>
        {
            if (!node.Placement.HostsHere(p)) return new QueueListed(p.Name, p.GroupId, null, null, null, null, null);
            try
            {
                var r = await node.Placement.ReadAsync(p.Name, sm => sm is QueueMachine { Settings: not null } q
                    ? new QueueListed(p.Name, p.GroupId, q.Waiting, q.InFlight, q.DeadPending, q.AckedTotal, q.Settings) : null, stale: true, node.Options.RequestTimeout, ct);
                return r.Value;
            }
            catch (Exception e) when (e is RaftException or TimeoutException) { return new QueueListed(p.Name, p.GroupId, null, null, null, null, null); }
        }));
        return Results.Json(listed.Where(q => q is not null), Json);
    }

    /// <summary><c>POST /queues/{name}/messages</c>: the body is one message (any bytes), or, with
    /// <c>Content-Type: application/json</c> and a JSON array as the body, a batch (each element a message: a string's
    /// text, any other value its JSON). Answered 201 once committed, with the ids; an <c>Idempotency-Key</c> header
    /// makes a retried publish take effect once (the retry answers the first one's ids, <c>repeated: true</c>).</summary>
    private static async Task<IResult> PublishAsync(string name, HttpContext http, QueueNode node, CancellationToken ct)
    {
        if (QueueCalls.BadName(name) is { } bad) return bad;
        var key = http.Request.Headers["Idempotency-Key"].ToString();
        if (key.Length > MaxKeyLength) return QueueCalls.Problem(400, "bad Idempotency-Key", $"Idempotency-Key is {key.Length} characters; at most {MaxKeyLength}");
        var body = await ReadBodyAsync(http, node.Options.MaxRequestBytes, ct);
        if (body is null) return TooLarge("the request body", node.Options.MaxRequestBytes);
        var messages = QueueBatch.Parse(http.Request.ContentType, body, out var why);
        if (messages is null) return QueueCalls.Problem(400, "bad batch", why!);
        if (messages.Length == 0) return QueueCalls.Problem(400, "bad batch", "the batch holds no message");
        http.Items[ServerForward.BodyItem] = body;
        return await QueueCalls.Answer(node, name, async () =>
        {
            var r = await QueueCalls.ProposeAsync(node, name, new Publish(messages, key.Length == 0 ? null : key), ct);
            return r switch
            {
                null => QueueCalls.NoSuchQueue(name),
                { Status: QueueStatus.Full } => QueueCalls.Problem(429, "queue full",
                    $"queue '{name}' holds {r.Count} messages; its maxLength is {r.Limit}, so {messages.Length} more do not fit"),
                { Status: QueueStatus.TooLarge } => QueueCalls.Problem(413, "message too large",
                    $"a message of {r.Count} bytes is over queue '{name}''s maxMessageBytes of {r.Limit}"),
                _ => Results.Json(new { ids = Enumerable.Range(0, r.Count).Select(i => r.FirstId + i), repeated = r.Repeated }, Json, statusCode: 201),
            };
        });
    }

    /// <summary>The body, or null when it is over <paramref name="limit"/> bytes.</summary>
    internal static async Task<byte[]?> ReadBodyAsync(HttpContext http, int limit, CancellationToken ct)
    {
        if (http.Request.ContentLength > limit) return null;
        var body = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await http.Request.Body.ReadAsync(buffer, ct)) > 0)
        {
            if (body.Length + read > limit) return null;
            body.Write(buffer, 0, read);
        }
        return body.ToArray();
    }

    private static IResult TooLarge(string what, int limit) =>
        QueueCalls.Problem(413, "request too large", $"{what} is over the limit (Queue:MaxRequestBytes) of {limit} bytes");

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        // A misspelt setting is an error, not a default silently taken.
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };
}

/// <summary>One queue of <c>GET /queues</c>: waiting messages (depth), in flight, dead ones on their way to the
/// dead-letter queue, acked in all, and its settings.</summary>
internal sealed record QueueListed(string Name, long Group, int? Depth, int? InFlight, int? DeadPending, long? Acked, QueueSettings? Settings);
