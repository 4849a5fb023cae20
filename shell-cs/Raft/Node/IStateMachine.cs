namespace Raft.Node;

/// <summary>
/// The user's replicated state machine: every node applies the same committed commands in the same order.
/// </summary>
/// <remarks>
/// All methods run on the node's loop thread, one at a time, so an implementation needs no locks for its own state;
/// they should be quick (the loop drives every group of the node). <see cref="Apply"/> must be deterministic:
/// the same commands in the same order give the same state and results on every node.
/// </remarks>
/// <typeparam name="TCommand">The command type (serialized with MessagePack and the user's resolver).</typeparam>
/// <typeparam name="TResult">What applying a command returns to the proposer.</typeparam>
public interface IStateMachine<in TCommand, out TResult>
{
    /// <summary>Applies one committed command at <paramref name="index"/> (written in <paramref name="term"/>).
    /// The result completes the proposer's <c>ProposeAsync</c> on the node that proposed it. An exception is
    /// reported to that proposer (as <see cref="StateMachineException"/>) and the node moves on to the next entry.</summary>
    TResult Apply(long index, long term, TCommand command);

    /// <summary>Writes the complete state to <paramref name="output"/> (called when the core asks for a snapshot).</summary>
    void Snapshot(Stream output);

    /// <summary>Replaces the state with a snapshot written by <see cref="Snapshot"/>.</summary>
    void Restore(Stream input);
}
