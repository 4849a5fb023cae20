using System.Globalization;
using Microsoft.AspNetCore.Http;
using Raft.MultiRaft;

namespace Raft.Server;

/// <summary>
/// A request for a name whose group this node does not replicate (a replication factor below the member count) goes
/// on, as it came, to a node that does: the members the directory records for the group, at their
/// <see cref="ClusterMember.ApiUrl"/>, tried in turn from a rotating start. The answer (status, <c>ETag</c>,
/// <c>Retry-After</c>, content type, body) comes back unchanged. A forwarded request carries <see cref="Header"/> and
/// is never forwarded again: two nodes whose directories disagree for a moment answer 503 instead of bouncing it.
/// </summary>
/// <param name="node">This node.</param>
/// <param name="members">The group's members, to try in turn.</param>
/// <param name="timeout">How long the whole forward may take (a long poll's wait included).</param>
/// <param name="headers">The request headers to pass on (beyond the body's content type).</param>
public sealed class ServerForward(IServerNode node, IReadOnlyList<ClusterMember> members, TimeSpan timeout, IReadOnlyList<string> headers) : IResult
{
    /// <summary>Marks a forwarded request (its value: the forwarding node's id).</summary>
    public const string Header = "X-Raft-Forwarded-By";

    /// <summary>Where an endpoint that read the request body (already checked) leaves it for forwarding.</summary>
    public const string BodyItem = "raft.forward.body";

    // One client for the process: connections to the other nodes are pooled and reused. No client timeout: each
    // request has its own (a long poll waits minutes).
    private static readonly HttpClient Client = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = Timeout.InfiniteTimeSpan };
    private static int _rotation;

    /// <inheritdoc />
    public async Task ExecuteAsync(HttpContext http)
    {
        if (http.Request.Headers.ContainsKey(Header))
        {
            await ServerProblems.Unavailable("forwarding", $"node {node.Settings.NodeId} does not replicate this group either (forwarded by node {http.Request.Headers[Header]})").ExecuteAsync(http);
            return;
        }
        var request = http.Request;
        using var response = await SendAsync(node, members, () =>
        {
            var message = new HttpRequestMessage(new HttpMethod(request.Method), request.Path + request.QueryString);
            if (http.Items[BodyItem] is byte[] body)
            {
                message.Content = new ByteArrayContent(body);
                if (request.ContentType is { } type) message.Content.Headers.TryAddWithoutValidation("Content-Type", type);
            }
            foreach (var name in headers)
                if (request.Headers.TryGetValue(name, out var value)) message.Headers.TryAddWithoutValidation(name, (IEnumerable<string>)value!);
            return message;
        }, timeout, http.RequestAborted);
        if (response is null)
        {
            await ServerProblems.Unavailable("forwarding", $"no member of the group ({string.Join(", ", members.Select(m => m.Id))}) answered").ExecuteAsync(http);
            return;
        }
        http.Response.StatusCode = (int)response.StatusCode;
        if (response.Headers.ETag is { } etag) http.Response.Headers.ETag = etag.ToString();
        if (response.Headers.RetryAfter is { } retry) http.Response.Headers.RetryAfter = retry.ToString();
        if (response.Content.Headers.ContentType is { } contentType) http.Response.ContentType = contentType.ToString();
        await response.Content.CopyToAsync(http.Response.Body, http.RequestAborted);
    }

    /// <summary>Sends a request (made afresh per attempt, its URI relative) to each member but this node in turn until
    /// one answers; null when none did. Only a member that cannot be reached is passed over: any answer, errors
    /// included, is the answer.</summary>
    public static async Task<HttpResponseMessage?> SendAsync(IServerNode node, IReadOnlyList<ClusterMember> members, Func<HttpRequestMessage> make,
        TimeSpan timeout, CancellationToken ct)
    {
        var self = node.Settings.NodeId;
        var targets = members.Where(m => m.Id != self && Uri.TryCreate(m.ApiUrl, UriKind.Absolute, out _)).ToArray();
        var start = targets.Length == 0 ? 0 : (int)((uint)Interlocked.Increment(ref _rotation) % targets.Length);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        for (var i = 0; i < targets.Length; i++)
        {
            var target = targets[(start + i) % targets.Length];
            using var request = make();
            request.RequestUri = new Uri(new Uri(target.ApiUrl!), request.RequestUri!.OriginalString);
            request.Headers.TryAddWithoutValidation(Header, self.ToString(CultureInfo.InvariantCulture));
            try { return await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, limit.Token); }
            catch (HttpRequestException) { }
            catch (OperationCanceledException) when (!limit.IsCancellationRequested) { }
        }
        return null;
    }
}
