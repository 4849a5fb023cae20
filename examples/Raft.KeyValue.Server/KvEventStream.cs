using Microsoft.AspNetCore.Http.Features;

namespace Raft.KeyValue.Server;

/// <summary><c>GET /events</c>: <see cref="KvEvents"/> as <c>text/event-stream</c>, until the client goes away or the
/// server stops.</summary>
public static class KvEventStream
{
    /// <summary>Maps <c>GET /events</c>.</summary>
    public static void MapKvEvents(this WebApplication app)
    {
        // Created now, not at the first stream: it tracks every group's role from the start.
        app.Services.GetRequiredService<KvEvents>();
        app.MapGet("/events", StreamAsync);
    }

    private static async Task StreamAsync(HttpContext http, KvEvents events, CancellationToken aborted)
    {
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        using var subscriber = events.Subscribe();
        try
        {
            // Reconnecting EventSource clients wait this long (ms) before trying again.
            await http.Response.WriteAsync("retry: 2000\n\n", aborted);
            await http.Response.Body.FlushAsync(aborted);
            while (await subscriber.Frames.WaitToReadAsync(aborted))
            {
                if (subscriber.TakeDropped() is var dropped and > 0)
                    await http.Response.WriteAsync($"event: dropped\ndata: {{\"type\":\"dropped\",\"data\":{{\"count\":{dropped}}}}}\n\n", aborted);
                while (subscriber.Frames.TryRead(out var frame)) await http.Response.WriteAsync(frame, aborted);
                await http.Response.Body.FlushAsync(aborted);
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested) { } // the client went away
    }
}
