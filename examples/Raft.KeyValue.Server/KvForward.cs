using System.Net.Http.Json;
using System.Text.Json;
using Raft.MultiRaft;

namespace Raft.KeyValue.Server;

/// <summary>
/// A request for a key whose group this node does not replicate (a replication factor below the member count) goes
/// on, as it came, to a node that does: the members the directory records for the group, at their
/// <see cref="ClusterMember.ApiUrl"/>, tried in turn from a rotating start. The answer (status, <c>ETag</c>,
/// <c>Retry-After</c>, body) comes back unchanged. A forwarded request carries <see cref="Header"/> and is never
/// forwarded again: two nodes whose directories disagree for a moment answer 503 instead of bouncing it.
/// </summary>
internal sealed class KvForward(IReadOnlyList<ClusterMember> members, TimeSpan timeout) : IResult
{
    /// <summary>Marks a forwarded request (its value: the forwarding node's id).</summary>
    public const string Header = "X-Kv-Forwarded-By";

    /// <summary>Where a PUT leaves its body (already read and checked) for forwarding.</summary>
    public const string BodyItem = "kv.body";

    // One client for the process: connections to the other nodes are pooled and reused. No client timeout: each
    // request has its own (a long poll waits minutes).
    private static readonly HttpClient Client = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = Timeout.InfiniteTimeSpan };
    private static int _rotation;

    public async Task ExecuteAsync(HttpContext http)
    {
        var node = http.RequestServices.GetRequiredService<KvNode>();
        if (http.Request.Headers.ContainsKey(Header))
        {
            await Unavailable($"node {node.Options.NodeId} does not replicate this key's group either (forwarded by node {http.Request.Headers[Header]})").ExecuteAsync(http);
            return;
        }
        var request = http.Request;
        var waits = KvLongPoll.Asked(request) ? KvLongPoll.MaxTimeout : TimeSpan.Zero;
        using var response = await SendAsync(node, members, () =>
        {
            var message = new HttpRequestMessage(new HttpMethod(request.Method), request.Path + request.QueryString);
            if (http.Items[BodyItem] is byte[] body) message.Content = new ByteArrayContent(body);
            foreach (var name in new[] { "If-Match", "If-None-Match" })
                if (request.Headers.TryGetValue(name, out var value)) message.Headers.TryAddWithoutValidation(name, (IEnumerable<string>)value!);
            return message;
        }, timeout + waits, http.RequestAborted);
        if (response is null)
        {
            await Unavailable($"no member of the key's group ({string.Join(", ", members.Select(m => m.Id))}) answered").ExecuteAsync(http);
            return;
        }
        http.Response.StatusCode = (int)response.StatusCode;
        if (response.Headers.ETag is { } etag) http.Response.Headers.ETag = etag.ToString();
        if (response.Headers.RetryAfter is { } retry) http.Response.Headers.RetryAfter = retry.ToString();
        if (response.Content.Headers.ContentType is { } type) http.Response.ContentType = type.ToString();
        await response.Content.CopyToAsync(http.Response.Body, http.RequestAborted);
    }

    /// <summary>The names of groups this node does not replicate, each listed by one of its members (hash placement).</summary>
    public static async Task<IEnumerable<KvListed>> ListElsewhereAsync(KvNode node, IReadOnlyList<GroupPlacement> groups, string prefix, int limit, CancellationToken ct)
    {
        var lists = await Task.WhenAll(groups.Select(async g =>
        {
            var ids = node.Placement.Directory.MembersOf(g);
            var path = $"/kv?prefix={Uri.EscapeDataString(prefix)}&limit={limit}&group={g.GroupId}";
            using var response = await SendAsync(node, node.Placement.Directory.Members().Where(m => ids.Contains(m.Id)).ToArray(),
                () => new HttpRequestMessage(HttpMethod.Get, path), node.Options.RequestTimeout, ct);
            if (response is not { IsSuccessStatusCode: true })
                throw new NotPlacedHereException(g.Name, g.GroupId, node.Options.NodeId, []);
            return await response.Content.ReadFromJsonAsync<KvListed[]>(JsonSerializerOptions.Web, ct) ?? [];
        }));
        return lists.SelectMany(l => l);
    }

    /// <summary>Sends a request (made afresh per attempt) to each member in turn until one answers; null when none did.
    /// Only a member that cannot be reached is passed over: any answer, errors included, is the answer.</summary>
    private static async Task<HttpResponseMessage?> SendAsync(KvNode node, IReadOnlyList<ClusterMember> members, Func<HttpRequestMessage> make,
        TimeSpan timeout, CancellationToken ct)
    {
        var targets = members.Where(m => m.Id != node.Options.NodeId && Uri.TryCreate(m.ApiUrl, UriKind.Absolute, out _)).ToArray();
        var start = targets.Length == 0 ? 0 : (int)((uint)Interlocked.Increment(ref _rotation) % targets.Length);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        for (var i = 0; i < targets.Length; i++)
        {
            var target = targets[(start + i) % targets.Length];
            using var request = make();
            request.RequestUri = new Uri(new Uri(target.ApiUrl!), request.RequestUri!.OriginalString);
            request.Headers.TryAddWithoutValidation(Header, node.Options.NodeId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            try { return await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, limit.Token); }
            catch (HttpRequestException) { }
            catch (OperationCanceledException) when (!limit.IsCancellationRequested) { }
        }
        return null;
    }

    private static IResult Unavailable(string why) => KvEndpoints.Unavailable("forwarding", why);
}

/// <summary>One key of a listing, as <c>GET /kv</c> answers it.</summary>
internal sealed record KvListed(string Key, long Group);
