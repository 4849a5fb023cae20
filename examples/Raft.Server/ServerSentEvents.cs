using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Raft.Server;

/// <summary>Writing <c>text/event-stream</c> (server-sent events) the same way on every example server.</summary>
public static class ServerSentEvents
{
    /// <summary>How long (ms) a reconnecting <c>EventSource</c> waits before trying again.</summary>
    public const int RetryMs = 2000;

    /// <summary>Starts the stream: unbuffered, not cached, the reconnection delay first (sent at once, so the client
    /// sees the stream open before the first event).</summary>
    public static async Task StartAsync(HttpContext http, CancellationToken ct)
    {
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        await http.Response.WriteAsync($"retry: {RetryMs}\n\n", ct);
        await http.Response.Body.FlushAsync(ct);
    }

    /// <summary>One event of type <paramref name="type"/> whose data is one line (JSON); not flushed.</summary>
    public static Task WriteAsync(HttpResponse response, string type, string data, CancellationToken ct) =>
        response.WriteAsync($"event: {type}\ndata: {data}\n\n", ct);

    /// <summary>A comment line: no event, but it keeps proxies from closing an idle stream and finds a client gone.</summary>
    public static async Task KeepAliveAsync(HttpResponse response, CancellationToken ct)
    {
        await response.WriteAsync(": keep-alive\n\n", ct);
        await response.Body.FlushAsync(ct);
    }
}
