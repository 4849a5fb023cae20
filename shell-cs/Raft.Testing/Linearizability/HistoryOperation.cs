namespace Raft.Testing;

/// <summary>How an operation of a history ended, as its client saw it.</summary>
public enum OperationOutcome
{
    /// <summary>The client got an output: the operation took effect between its call and its return.</summary>
    Completed,

    /// <summary>The client learned that the operation certainly did not take effect (refused, not leader).</summary>
    Failed,

    /// <summary>The client never learned (timeout, lost connection, crashed server): the operation may have taken
    /// effect at any time after its call, or not at all.</summary>
    Unknown,
}

/// <summary>One operation of a recorded client history.</summary>
/// <param name="Client">The client (task, connection) that issued it; operations of one client never overlap.</param>
/// <param name="Input">What the client asked for.</param>
/// <param name="Call">When the client called (any monotonic clock, e.g. nanoseconds; only the order matters).</param>
/// <param name="Outcome">How it ended.</param>
/// <param name="Return">When it returned (meaningful for <see cref="OperationOutcome.Completed"/> and
/// <see cref="OperationOutcome.Failed"/>; for <see cref="OperationOutcome.Unknown"/>, when the client gave up, or
/// <see cref="long.MaxValue"/>); at least <paramref name="Call"/>.</param>
/// <param name="Output">What it returned (meaningful for <see cref="OperationOutcome.Completed"/>).</param>
public sealed record HistoryOperation<TInput, TOutput>(int Client, TInput Input, long Call, OperationOutcome Outcome, long Return, TOutput? Output)
{
    /// <summary>An operation that returned <paramref name="output"/> at <paramref name="returned"/>.</summary>
    public static HistoryOperation<TInput, TOutput> Completed(int client, TInput input, long call, long returned, TOutput output) =>
        new(client, input, call, OperationOutcome.Completed, returned, output);

    /// <summary>An operation whose client never learned its outcome.</summary>
    public static HistoryOperation<TInput, TOutput> Unknown(int client, TInput input, long call) =>
        new(client, input, call, OperationOutcome.Unknown, long.MaxValue, default);

    /// <summary>An operation that certainly did not take effect.</summary>
    public static HistoryOperation<TInput, TOutput> Failed(int client, TInput input, long call, long returned) =>
        new(client, input, call, OperationOutcome.Failed, returned, default);

    /// <inheritdoc/>
    public override string ToString() => Outcome switch
    {
        OperationOutcome.Completed => $"client {Client}: {Input} -> {Output} [{Call}..{Return}]",
        OperationOutcome.Failed => $"client {Client}: {Input} -> failed [{Call}..{Return}]",
        _ => $"client {Client}: {Input} -> unknown [{Call}..]",
    };
}
