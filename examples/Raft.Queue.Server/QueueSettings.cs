using MessagePack;

namespace Raft.Queue.Server;

/// <summary>A queue's options, given when it is created (<c>PUT /queues/{name}</c>, JSON, camelCase).</summary>
[MessagePackObject]
public sealed record QueueSettings
{
    /// <summary>The most messages the queue holds, waiting and in flight; a publish beyond it is refused (429).</summary>
    [Key(0)] public int MaxLength { get; init; } = 100_000;
    /// <summary>The largest message in bytes.</summary>
    [Key(1)] public int MaxMessageBytes { get; init; } = 256 * 1024;
    /// <summary>How long a received message stays invisible when the receive names no visibility, in milliseconds.</summary>
    [Key(2)] public long VisibilityTimeoutMs { get; init; } = 30_000;
    /// <summary>How many times a message is delivered at most; the next expiry or nack moves it to
    /// <see cref="DeadLetterQueue"/> (or drops it when there is none). 0: no limit.</summary>
    [Key(3)] public int MaxDeliveries { get; init; }
    /// <summary>The queue that receives this one's dead messages (null: none; they are counted and dropped).</summary>
    [Key(4)] public string? DeadLetterQueue { get; init; }
    /// <summary>How many recent idempotency keys the queue remembers: a publish retried with a remembered key takes
    /// effect once. The oldest key is forgotten first.</summary>
    [Key(5)] public int IdempotencyWindow { get; init; } = 10_000;

    /// <summary>The longest visibility timeout (a receive's or the default).</summary>
    public const long MaxVisibilityMs = 12 * 3600 * 1000L;

    /// <summary>Every problem, each naming its field; empty when valid.</summary>
    public IReadOnlyList<string> Validate(string self)
    {
        var errors = new List<string>();
        if (MaxLength is < 1 or > 10_000_000) errors.Add($"maxLength must be within 1-10000000 (is {MaxLength})");
        if (MaxMessageBytes is < 1 or > 16 * 1024 * 1024) errors.Add($"maxMessageBytes must be within 1-16777216 (is {MaxMessageBytes})");
        if (VisibilityTimeoutMs is < 1 or > MaxVisibilityMs) errors.Add($"visibilityTimeoutMs must be within 1-{MaxVisibilityMs} (is {VisibilityTimeoutMs})");
        if (MaxDeliveries < 0) errors.Add($"maxDeliveries must be 0 (no limit) or more (is {MaxDeliveries})");
        if (DeadLetterQueue is { } dlq && (!QueueNames.IsValid(dlq) || dlq == self))
            errors.Add($"deadLetterQueue '{dlq}' must be another queue's name ({QueueNames.Rule})");
        if (IdempotencyWindow is < 0 or > 1_000_000) errors.Add($"idempotencyWindow must be within 0-1000000 (is {IdempotencyWindow})");
        return errors;
    }
}

/// <summary>What a queue's name may be.</summary>
public static class QueueNames
{
    /// <summary>The rule, as errors name it.</summary>
    public const string Rule = "1-80 characters: letters, digits, '-', '_' and '.'";

    /// <summary>Whether <paramref name="name"/> follows <see cref="Rule"/>.</summary>
    public static bool IsValid(string? name) =>
        name is { Length: >= 1 and <= 80 } && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
