namespace Raft.Testing;

/// <summary>
/// The sequential specification of your service, which the linearizability checker holds a history against: from a
/// state and one operation, the operation's output and the next state. Pure: no clock, no randomness, no mutation of
/// <typeparamref name="TState"/>.
/// </summary>
/// <typeparam name="TState">The model's state. Needs value equality and a matching hash code (a number, a string, a
/// record of values): the checker remembers the states it has explored.</typeparam>
/// <typeparam name="TInput">An operation as a client asks for it (writes and reads alike).</typeparam>
/// <typeparam name="TOutput">What the operation returns to the client; compared with <see cref="object.Equals(object)"/>.</typeparam>
public interface IModel<TState, TInput, TOutput>
{
    /// <summary>The state before any operation.</summary>
    TState Initial { get; }

    /// <summary>The output of <paramref name="input"/> in <paramref name="state"/> and the state after it.</summary>
    (TOutput Output, TState State) Apply(TState state, TInput input);

    /// <summary>The independent part of the state <paramref name="input"/> touches (an account, a key), or null when
    /// the state cannot be split. Operations with different keys are checked as separate histories, which is far
    /// faster; only valid when no operation touches two keys.</summary>
    object? PartitionKey(TInput input) => null;
}
