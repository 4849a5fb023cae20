using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Raft.MultiRaft;
using Raft.Node;
using Raft.Server;

namespace Raft.KeyValue.Server;

/// <summary>The HTTP API: <c>/kv/{key}</c> (PUT, GET, DELETE; versions as ETags, <c>If-Match</c> compare-and-set,
/// <c>If-None-Match: *</c> create-only; GET linearizable unless <c>?consistency=stale</c>, long-polling with
/// <c>?wait=</c>: see <see cref="KvLongPoll"/>), <c>/kv?prefix=&amp;limit=</c>,
/// <c>/kv/rebalance</c> and <c>/cluster/members</c> (changes behind the admin credentials: <see cref="ServerMembers"/>).
/// Errors are <c>application/problem+json</c>.</summary>
public static class KvEndpoints
{
    public static void MapKv(this WebApplication app)
    {
        app.MapPut("/kv/{key}", PutAsync);
        app.MapGet("/kv/{key}", GetAsync);
        app.MapDelete("/kv/{key}", DeleteAsync);
        app.MapGet("/kv", ListAsync);
        app.MapPost("/kv/rebalance", async (KvNode node, CancellationToken ct) => Results.Json(new { transfers = await node.Placement.RebalanceAsync(ct) }));
        app.MapServerMembers(app.Services.GetRequiredService<KvNode>());
    }

    private static async Task<IResult> PutAsync(string key, HttpContext http, KvNode node, CancellationToken ct)
    {
        if (BadKey(key, node.Options) is { } bad) return bad;
        var limit = node.Options.MaxValueBytes;
        if (http.Request.ContentLength > limit) return TooLarge(limit);
        var body = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await http.Request.Body.ReadAsync(buffer, ct)) > 0)
        {
            if (body.Length + read > limit) return TooLarge(limit);
            body.Write(buffer, 0, read);
        }
        if (Precondition(http.Request, out var ifVersion) is { } malformed) return malformed;
        var value = body.ToArray();
        http.Items[ServerForward.BodyItem] = value;
        return await Answer(node, key, async () =>
        {
            var r = await node.Placement.ProposeAsync(key, new KvWrite(false, value, ifVersion, key), node.Options.RequestTimeout, ct);
            if (r.Result.Status == KvStatus.VersionMismatch) return Mismatch(key, ifVersion, r.Result.Version);
            http.Response.Headers.ETag = ETag(r.Result.Version);
            return Results.Json(new { key, version = r.Result.Version });
        });
    }

    private static async Task<IResult> GetAsync(string key, HttpContext http, KvNode node, KvWatch watch, string? consistency, CancellationToken ct)
    {
        if (BadKey(key, node.Options) is { } bad) return bad;
        var stale = consistency switch
        {
            null or "linearizable" => false,
            "stale" => true,
            _ => (bool?)null,
        };
        if (stale is null) return Problem(400, "bad consistency", $"consistency must be 'linearizable' (the default) or 'stale', not '{consistency}'");
        if (KvLongPoll.Asked(http.Request)) return await KvLongPoll.GetAsync(key, http, node, watch, stale.Value, ct);
        return await Answer(node, key, async () => Found(http, key, await ReadKeyAsync(node, key, stale.Value, node.Options.RequestTimeout, ct)));
    }

    /// <summary>A key's value (null when absent) and version (0 when absent), read as a GET reads it.</summary>
    internal static async Task<(byte[]? Value, long Version)> ReadKeyAsync(KvNode node, string key, bool stale, TimeSpan timeout, CancellationToken ct)
    {
        var r = await node.Placement.ReadAsync(key, sm => ((KeyRegister)sm).Read(key), stale, timeout, ct);
        return r.Found && r.Value.Value is not null ? r.Value : (null, 0);
    }

    /// <summary>A GET's answer: the value with its version as ETag, or 404.</summary>
    internal static IResult Found(HttpContext http, string key, (byte[]? Value, long Version) read)
    {
        if (read.Value is null) return Problem(404, "no such key", $"key '{key}' does not exist");
        http.Response.Headers.ETag = ETag(read.Version);
        return Results.Bytes(read.Value, "application/octet-stream");
    }

    private static async Task<IResult> DeleteAsync(string key, HttpContext http, KvNode node, CancellationToken ct)
    {
        if (BadKey(key, node.Options) is { } bad) return bad;
        if (Precondition(http.Request, out var ifVersion) is { } malformed) return malformed;
        return await Answer(node, key, async () =>
        {
            if (node.Placement.Directory.Find(key) is null && await node.Placement.FindAsync(key, node.Options.RequestTimeout, ct) is null)
                return Problem(404, "no such key", $"key '{key}' does not exist");
            var r = await node.Placement.ProposeAsync(key, new KvWrite(true, null, ifVersion, key), node.Options.RequestTimeout, ct);
            if (r.Result.Status == KvStatus.VersionMismatch) return Mismatch(key, ifVersion, r.Result.Version);
            if (r.Result.Status == KvStatus.NotFound) return Problem(404, "no such key", $"key '{key}' does not exist");
            // The key is gone; under per-key placement its group goes too unless a write came after the delete (then the
            // group stays, holding it); a hashed group, shared by other keys, always stays (the release declines).
            try { await node.Placement.ReleaseAsync(key, r.Index, node.Options.RequestTimeout, ct); }
            catch (RaftException) { }
            catch (TimeoutException) { }
            return Results.NoContent();
        });
    }

    /// <summary><c>GET /kv?prefix=&amp;limit=</c>: the keys as this node has applied them (per-key placement: its copy of
    /// the directory; hash placement: each hashed group it replicates, and the others through one of their members).
    /// <c>&amp;group=</c> lists one hashed group (what a node asks another for).</summary>
    private static async Task<IResult> ListAsync(KvNode node, string? prefix, int? limit, long? group, CancellationToken ct)
    {
        if (limit is < 1 or > 10_000) return Problem(400, "bad limit", $"limit must be within 1-10000 (is {limit})");
        var (p, n, timeout) = (prefix ?? "", limit ?? 1000, node.Options.RequestTimeout);
        return await Answer(node, "the listing", async () =>
        {
            IEnumerable<KvListed> names;
            if (group is { } g) names = (await node.Placement.ListGroupAsync(g, p, n, stale: true, timeout, ct)).Select(Listed);
            else
            {
                var listing = await node.Placement.ListAsync(p, n, stale: true, timeout, ct);
                names = listing.Names.Select(Listed);
                if (listing.Elsewhere.Count > 0) names = names.Concat(await KvForward.ListElsewhereAsync(node, listing.Elsewhere, p, n, ct));
            }
            return Results.Json(names.OrderBy(l => l.Key, StringComparer.Ordinal).Take(n).ToArray());
        });
    }

    private static KvListed Listed(GroupPlacement p) => new(p.Name, p.GroupId);

    /// <summary>Runs a call and maps the library's failures to problem documents.</summary>
    internal static Task<IResult> Answer(KvNode node, string subject, Func<Task<IResult>> call) =>
        ServerProblems.Answer(subject, call, e => new KvForward(e.Members, node.Options.RequestTimeout));

    private static IResult? BadKey(string key, KvServerOptions options)
    {
        if (string.IsNullOrEmpty(key)) return Problem(400, "bad key", "the key is empty");
        var bytes = Encoding.UTF8.GetByteCount(key);
        if (bytes > options.MaxKeyBytes) return Problem(400, "bad key", $"the key is {bytes} bytes; the limit (Kv:MaxKeyBytes) is {options.MaxKeyBytes}");
        return null;
    }

    /// <summary><c>If-Match: "v"</c> (a version), <c>If-None-Match: *</c> (absent), or neither (-1).</summary>
    private static IResult? Precondition(HttpRequest request, out long ifVersion)
    {
        ifVersion = -1;
        var ifMatch = request.Headers.IfMatch.ToString();
        var ifNoneMatch = request.Headers.IfNoneMatch.ToString();
        if (ifMatch.Length > 0)
        {
            var text = ifMatch.Trim();
            if (text.Length < 3 || text[0] != '"' || text[^1] != '"' || !long.TryParse(text.AsSpan(1, text.Length - 2), out ifVersion) || ifVersion < 1)
                return Problem(400, "bad If-Match", $"If-Match must be one version in quotes, like \"42\" (is {ifMatch})");
        }
        else if (ifNoneMatch.Length > 0)
        {
            if (ifNoneMatch.Trim() != "*") return Problem(400, "bad If-None-Match", $"If-None-Match must be * (create only; is {ifNoneMatch})");
            ifVersion = 0;
        }
        return null;
    }

    internal static string ETag(long version) => $"\"{version}\"";

    private static IResult Mismatch(string key, long expected, long actual) =>
        Problem(412, "version mismatch", expected == 0 ? $"key '{key}' exists (version {actual})" : $"key '{key}' is at version {actual}, not {expected}");

    private static IResult TooLarge(int limit) => Problem(413, "value too large", $"the value is over the limit (Kv:MaxValueBytes) of {limit} bytes");

    internal static IResult Unavailable(string subject, string why) => ServerProblems.Unavailable(subject, why);

    internal static IResult Problem(int status, string title, string detail) => ServerProblems.Problem(status, title, detail);
}
