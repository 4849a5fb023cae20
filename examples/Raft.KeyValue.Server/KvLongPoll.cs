using System.Globalization;
using Raft.Server;

namespace Raft.KeyValue.Server;

/// <summary>
/// <c>GET /kv/{key}?wait=V&amp;timeout=30s</c>: answers as soon as the key's version differs from V, else when the
/// timeout passes.
/// <list type="bullet">
/// <item>Changed: what a plain GET answers (200 with the value and <c>ETag</c>, or 404 once the key is absent), read the
/// same way (linearizable, or this node's state with <c>consistency=stale</c>); a 404 carries <c>ETag: "0"</c>.</item>
/// <item>Unchanged at the timeout (or when this server stops): 304 Not Modified, <c>ETag: "V"</c>, no body: poll again.</item>
/// </list>
/// "Differs", not "is greater": a version is the log index of the key's last write in its group, and a deleted key's
/// group is released, so a key created again starts over at a lower version. <c>wait=0</c> waits for an absent key to
/// be created. The timeout is seconds (<c>30</c>, <c>30s</c>), milliseconds (<c>500ms</c>) or minutes (<c>2m</c>),
/// 30 s when not given, at most <see cref="MaxTimeout"/>; a read after a wake-up has what is left of it, and at least
/// <see cref="MinReadTime"/>, so an answer comes no later than that past the timeout.
/// </summary>
public static class KvLongPoll
{
    /// <summary>The longest <c>timeout</c> accepted.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(2);

    /// <summary>The <c>timeout</c> when only <c>wait</c> is given.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The least time a read of the key is given, even right at the timeout.</summary>
    public static readonly TimeSpan MinReadTime = TimeSpan.FromMilliseconds(250);

    /// <summary>True when the request asks to long-poll (names <c>wait</c> or <c>timeout</c>).</summary>
    public static bool Asked(HttpRequest request) => request.Query.ContainsKey("wait") || request.Query.ContainsKey("timeout");

    /// <summary>Answers the long poll of <paramref name="key"/>; <paramref name="aborted"/> is the request's own token
    /// (the client went away).</summary>
    public static async Task<IResult> GetAsync(string key, HttpContext http, KvNode node, KvWatch watch, bool stale, CancellationToken aborted)
    {
        if (Parse(http.Request.Query, out var wait, out var timeout) is { } bad) return bad;
        var stopping = http.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var waitEnds = CancellationTokenSource.CreateLinkedTokenSource(aborted, stopping);
        var started = TimeProvider.System.GetTimestamp();
        TimeSpan Left() => timeout - TimeProvider.System.GetElapsedTime(started);
        using var watcher = watch.Watch(key);
        return await KvEndpoints.Answer(node, key, async () =>
        {
            while (true)
            {
                var applied = watcher.Next();
                var readTime = TimeSpan.FromTicks(Math.Min(node.Options.RequestTimeout.Ticks, Math.Max(Left().Ticks, MinReadTime.Ticks)));
                var read = await KvEndpoints.ReadKeyAsync(node, key, stale, readTime, aborted);
                if (read.Version != wait)
                {
                    http.Response.Headers.ETag = KvEndpoints.ETag(read.Version);
                    return KvEndpoints.Found(http, key, read);
                }
                var left = Left();
                if (left <= TimeSpan.Zero) return NotModified(http, wait);
                try { await applied.WaitAsync(left, waitEnds.Token); }
                catch (TimeoutException) { return NotModified(http, wait); }
                // The server stops: the client hears "unchanged" and polls again (another node, or this one restarted).
                catch (OperationCanceledException) when (!aborted.IsCancellationRequested) { return NotModified(http, wait); }
            }
        });
    }

    private static IResult NotModified(HttpContext http, long version)
    {
        http.Response.Headers.ETag = KvEndpoints.ETag(version);
        return Results.StatusCode(StatusCodes.Status304NotModified);
    }

    private static IResult? Parse(IQueryCollection query, out long wait, out TimeSpan timeout)
    {
        timeout = DefaultTimeout;
        var waitText = query["wait"].ToString();
        if (!long.TryParse(waitText, NumberStyles.None, CultureInfo.InvariantCulture, out wait))
            return KvEndpoints.Problem(400, "bad wait", $"wait must be a version: a whole number, 0 or more (is '{waitText}'; a timeout needs a wait)");
        if (!query.TryGetValue("timeout", out var given)) return null;
        var text = given.ToString();
        if (Durations.Parse(text) is not { } parsed)
            return KvEndpoints.Problem(400, "bad timeout", $"timeout must be a duration like 30s, 500ms or 2m (is '{text}')");
        if (parsed > MaxTimeout)
            return KvEndpoints.Problem(400, "bad timeout", $"timeout may be at most {MaxTimeout.TotalSeconds:0}s (is '{text}')");
        timeout = parsed;
        return null;
    }
}
