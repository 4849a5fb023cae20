using Raft.Node;

namespace Raft.KeyValue.Server;

/// <summary>One key's replicated value and version. The version is the log index of the last write, so it grows with
/// every write of the key and a compare-and-set names exactly the write it expects.</summary>
/// <param name="groupId">The key's group, named to <paramref name="applied"/>.</param>
/// <param name="applied">Told of every write applied and every snapshot restored (long polls and /events); null for none.</param>
public sealed class KeyRegister(long groupId = 0, IKeyApplied? applied = null) : IStateMachine<KvWrite, KvWriteResult>
{
    /// <summary>The value, or null when the key is absent (never written, or deleted).</summary>
    public byte[]? Value { get; private set; }

    /// <summary>The version of <see cref="Value"/>; 0 when absent.</summary>
    public long Version { get; private set; }

    public KvWriteResult Apply(long index, long term, KvWrite command)
    {
        var result = ApplyWrite(index, command);
        applied?.Applied(groupId, index, term, Version);
        return result;
    }

    private KvWriteResult ApplyWrite(long index, KvWrite command)
    {
        if (command.IfVersion >= 0 && command.IfVersion != Version) return new(KvStatus.VersionMismatch, Version);
        if (command.Delete)
        {
            if (Value is null) return new(KvStatus.NotFound, 0);
            Value = null;
            Version = 0;
            return new(KvStatus.Ok, index);
        }
        Value = command.Value ?? [];
        Version = index;
        return new(KvStatus.Ok, index);
    }

    public void Snapshot(Stream output)
    {
        var w = new BinaryWriter(output);
        w.Write(Version);
        w.Write(Value is null ? -1 : Value.Length);
        if (Value is not null) w.Write(Value);
        w.Flush();
    }

    public void Restore(Stream input)
    {
        var r = new BinaryReader(input);
        Version = r.ReadInt64();
        var length = r.ReadInt32();
        Value = length < 0 ? null : r.ReadBytes(length);
        if (Value is not null && Value.Length != length) throw new InvalidDataException($"A key snapshot ends after {Value.Length} of its {length} value bytes.");
        applied?.Applied(groupId, Version, 0, Version);
    }
}
