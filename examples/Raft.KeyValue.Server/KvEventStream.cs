using Raft.Server;

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
        using var subscriber = events.Subscribe();
        try
        {
            await ServerSentEvents.StartAsync(http, aborted);
            while (await subscriber.Frames.WaitToReadAsync(aborted))
            {
                if (subscriber.TakeDropped() is var dropped and > 0)
                    await ServerSentEvents.WriteAsync(http.Response, "dropped", $"{{\"type\":\"dropped\",\"data\":{{\"count\":{dropped}}}}}", aborted);
                while (subscriber.Frames.TryRead(out var frame)) await http.Response.WriteAsync(frame, aborted);
                await http.Response.Body.FlushAsync(aborted);
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested) { } // the client went away
    }
}
