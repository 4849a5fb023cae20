using Raft.Node;

namespace Raft.MultiRaft;

/// <summary>
/// A data group's state machine: the user's, plus the seal that releasing a name needs. Once sealed, the group
/// refuses every data command with <see cref="PlacedOutcome.Sealed"/>, so a writer holding a stale placement finds
/// out and resolves the name again instead of writing into a group about to be deleted.
/// </summary>
internal sealed class PlacedStateMachine<TCommand, TResult>(IStateMachine<TCommand, TResult> inner)
    : IStateMachine<PlacedCommand<TCommand>, PlacedResult<TResult>>
{
    private const byte ImageVersion = 1;

    /// <summary>The user's state machine.</summary>
    public IStateMachine<TCommand, TResult> Inner { get; } = inner;

    /// <summary>True once a seal applied.</summary>
    public bool Sealed { get; private set; }

    /// <summary>The index of the newest data command applied.</summary>
    public long LastDataIndex { get; private set; }

    public PlacedResult<TResult> Apply(long index, long term, PlacedCommand<TCommand> command)
    {
        switch (command.Kind)
        {
            case PlacedCommandKind.Data:
                if (Sealed) return PlacedResult<TResult>.IsSealed;
                LastDataIndex = index;
                return new() { Outcome = PlacedOutcome.Ok, Data = Inner.Apply(index, term, command.Data!) };
            case PlacedCommandKind.Seal:
                if (Sealed) return PlacedResult<TResult>.Done;
                if (LastDataIndex > command.Index)
                    return PlacedResult<TResult>.Refuse($"written at index {LastDataIndex}, after the seal's condition {command.Index}");
                Sealed = true;
                return PlacedResult<TResult>.Done;
            default:
                return PlacedResult<TResult>.Refuse($"a data group takes no {command.Kind} commands");
        }
    }

    public void Snapshot(Stream output)
    {
        var header = new BinaryWriter(output);
        header.Write(ImageVersion);
        header.Write(Sealed);
        header.Write(LastDataIndex);
        header.Flush();
        Inner.Snapshot(output);
    }

    public void Restore(Stream input)
    {
        var header = new BinaryReader(input);
        var version = header.ReadByte();
        if (version != ImageVersion) throw new InvalidDataException($"A data group snapshot of version {version}; this node reads version {ImageVersion}.");
        Sealed = header.ReadBoolean();
        LastDataIndex = header.ReadInt64();
        Inner.Restore(input);
    }
}
