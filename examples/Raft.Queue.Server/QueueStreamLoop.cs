using System.Text.Json;
using Raft.Node;
using Raft.Server;

namespace Raft.Queue.Server;

/// <summary>One open stream of <see cref="QueueStream"/>: delivers while it has credit and the queue has messages, and
/// otherwise waits until the queue's group applies something here (an ack, a publish), a delivery's deadline passes, or
/// a keep-alive is due. The deliveries it counts against its credit are checked on this node's copy of the queue
/// (<see cref="QueueMachine.DeliveryOver"/>), so an ack on any node returns credit once this node applied it.</summary>
internal sealed class QueueStreamLoop(QueueNode node, string name, long groupId, int credit, long visibilityMs) : IResult
{
    /// <summary>How long a stream stays silent before a keep-alive comment.</summary>
    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    /// <summary>How long a stream waits after a failed receive (no leader for a moment) before it tries again.</summary>
    public static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(500);

    private static long _streams;

    public async Task ExecuteAsync(HttpContext http)
    {
        var stopping = http.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var ends = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, stopping);
        var ct = ends.Token;
        var response = http.Response;
        // Message id -> the delivery this stream made of it, while that delivery counts against the credit.
        var outstanding = new Dictionary<long, int>();
        var wrote = TimeProvider.System.GetTimestamp();
        try
        {
            await ServerSentEvents.StartAsync(http, ct);
            await Send(response, "stream", new
            {
                stream = $"{node.Options.NodeId}-{Interlocked.Increment(ref _streams)}",
                node = node.Options.NodeId,
                queue = name,
                credit,
                visibilityMs,
            }, ct);
            while (true)
            {
                var changed = node.Changed(groupId);
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                var held = outstanding.ToArray();
                var view = await node.Placement.ReadAsync(name, sm => sm is QueueMachine { Settings: not null } q
                    ? new View(held.Where(d => q.DeliveryOver(d.Key, d.Value, now)).Select(d => d.Key).ToArray(), q.AvailableAt(now), q.NextDeadline)
                    : null, stale: true, node.Options.RequestTimeout, ct);
                if (view.Value is not { } v)
                {
                    await Send(response, "end", new { reason = $"queue '{name}' does not exist (deleted)" }, ct);
                    return;
                }
                foreach (var over in v.Over) outstanding.Remove(over);
                var free = credit - outstanding.Count;
                if (free > 0 && v.Available > 0)
                {
                    QueueReply? r;
                    try { r = await QueueCalls.ProposeAsync(node, name, new Receive(free, visibilityMs), ct); }
                    catch (Exception e) when (e is RaftException or TimeoutException && !ct.IsCancellationRequested)
                    {
                        await Send(response, "problem", new { detail = $"receive from queue '{name}': {e.Message} (trying again)" }, ct);
                        await Task.Delay(RetryDelay, ct);
                        continue;
                    }
                    if (r is null)
                    {
                        await Send(response, "end", new { reason = $"queue '{name}' does not exist (deleted)" }, ct);
                        return;
                    }
                    if (r.Deliveries is { Length: > 0 } delivered)
                    {
                        foreach (var d in delivered)
                        {
                            outstanding[d.Id] = d.Delivery;
                            await ServerSentEvents.WriteAsync(response, "message", JsonSerializer.Serialize(QueueConsume.Message(d), QueueEndpoints.Json), ct);
                        }
                        await response.Body.FlushAsync(ct);
                        wrote = TimeProvider.System.GetTimestamp();
                        continue;
                    }
                    // Nothing delivered: this node's copy was behind the leader's; it catches up (and wakes the wait) when it applies this receive.
                }
                // Woken by anything applied in the group (an ack returns credit, a publish brings messages), or when the
                // first delivery in flight expires (it returns credit, or can be delivered again).
                var wait = KeepAlive;
                if (v.NextDeadline is { } deadline) wait = TimeSpan.FromMilliseconds(Math.Clamp(deadline - now + 1, 1, wait.TotalMilliseconds));
                try { await changed.WaitAsync(wait, ct); }
                catch (TimeoutException) when (TimeProvider.System.GetElapsedTime(wrote) >= KeepAlive)
                {
                    await ServerSentEvents.KeepAliveAsync(response, ct);
                    wrote = TimeProvider.System.GetTimestamp();
                }
                catch (TimeoutException) { }
            }
        }
        // The client went away, or the server stops: deliveries not acked come back after their visibility.
        catch (Exception e) when (e is OperationCanceledException or IOException && ct.IsCancellationRequested) { }
    }

    private static Task Send(HttpResponse response, string type, object data, CancellationToken ct) =>
        Flushed(response, ServerSentEvents.WriteAsync(response, type, JsonSerializer.Serialize(data, QueueEndpoints.Json), ct), ct);

    private static async Task Flushed(HttpResponse response, Task write, CancellationToken ct)
    {
        await write;
        await response.Body.FlushAsync(ct);
    }

    /// <summary>What the loop reads of this node's copy: its deliveries now over, how many messages a receive could
    /// deliver, the earliest deadline in flight.</summary>
    private sealed record View(long[] Over, int Available, long? NextDeadline);
}
