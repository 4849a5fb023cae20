using Raft.Server;

namespace Raft.Queue.Server;

/// <summary>The queue server's settings (the shared <see cref="ServerOptions"/> and its own), section "Queue"
/// (appsettings.json, environment <c>Queue__NodeId</c>, command line <c>--Queue:NodeId</c>). Snapshots and compaction
/// per queue group: <c>Queue:Raft:SnapshotEntries</c>, <c>Queue:Raft:SnapshotLogBytes</c>, <c>Queue:Raft:CompactionTrailing</c>.</summary>
public sealed class QueueServerOptions() : ServerOptions(SectionName, "raft-queue")
{
    public const string SectionName = "Queue";

    /// <summary>The largest request body (one message, or a batch) in bytes.</summary>
    public int MaxRequestBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>The most messages one receive may ask for.</summary>
    public int MaxReceive { get; set; } = 1000;

    /// <summary>How often this node looks for dead messages to move to their dead-letter queues (in the groups it leads).</summary>
    public TimeSpan DeadLetterInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <inheritdoc />
    public override IReadOnlyList<string> Validate()
    {
        var errors = base.Validate().ToList();
        // A queue is one group: a hashed group would hold many queues, which the queue machine does not.
        if (Placement != "per-key") errors.Add($"{SectionName}:Placement must be 'per-key' (each queue its own group; is '{Placement}')");
        if (MaxRequestBytes is < 1 or > 64 * 1024 * 1024) errors.Add($"{SectionName}:MaxRequestBytes must be within 1-67108864 (is {MaxRequestBytes})");
        if (MaxReceive is < 1 or > 100_000) errors.Add($"{SectionName}:MaxReceive must be within 1-100000 (is {MaxReceive})");
        if (DeadLetterInterval <= TimeSpan.Zero) errors.Add($"{SectionName}:DeadLetterInterval must be positive (is {DeadLetterInterval})");
        return errors;
    }
}
