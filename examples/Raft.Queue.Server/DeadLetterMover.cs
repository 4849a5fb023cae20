using Raft.Node;

namespace Raft.Queue.Server;

/// <summary>
/// Moves dead messages to their dead-letter queue: for each queue group this node leads, the dead messages its machine
/// holds are published to the queue its settings name, one by one with the idempotency key
/// <c>dead:{queue}:{createdAt}:{id}</c> (so a move retried after a crash or a leader change takes effect once), and
/// then forgotten in their own group (<see cref="DeadForwarded"/>). A dead-letter queue that does not exist (yet)
/// keeps them waiting; <c>GET /queues</c> shows them as deadPending. A message's last delivery that expires makes it
/// dead at the next command of its queue; when none comes, this applies one (a receive of nothing).
/// </summary>
public sealed class DeadLetterMover(QueueNode node, ILogger<DeadLetterMover> log) : BackgroundService
{
    private const int Batch = 100;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(node.Options.DeadLetterInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            foreach (var placement in node.Placement.Directory.List("", int.MaxValue))
            {
                if (!node.Placement.Host.TryGetGroup(placement.GroupId, out var group) || group.Status.Role != RaftRole.Leader) continue;
                try { await MoveAsync(placement.Name, stoppingToken); }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { return; }
                catch (Exception e) when (e is RaftException or TimeoutException) { log.LogDebug(e, "Moving the dead messages of {Queue} failed; retrying later", placement.Name); }
            }
        }
    }

    private async Task MoveAsync(string name, CancellationToken ct)
    {
        // A last delivery expired with no command since: a receive of nothing applies the expiry, so the message dies now.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var due = await node.Placement.ReadAsync(name, sm => sm is QueueMachine q && q.DiesAt(now), stale: true, node.Options.RequestTimeout, ct);
        if (due.Value) await QueueCalls.ProposeAsync(node, name, new Receive(0, 0), ct);
        var read = await node.Placement.ReadAsync(name, sm => sm is QueueMachine { Settings.DeadLetterQueue: { } dlq, DeadPending: > 0 } q
            ? (dlq, q.CreatedAt, q.DeadToForward(Batch)) : default, stale: true, node.Options.RequestTimeout, ct);
        if (read.Value is not ({ } target, var createdAt, { Count: > 0 } dead)) return;
        foreach (var (id, body) in dead)
        {
            var r = await QueueCalls.ProposeAsync(node, target, new Publish([body], $"dead:{name}:{createdAt}:{id}"), ct);
            // No dead-letter queue, or it is full: the messages wait here.
            if (r is not { Status: QueueStatus.Ok }) return;
            await QueueCalls.ProposeAsync(node, name, new DeadForwarded(id), ct);
        }
    }
}
