using MessagePack;

namespace Raft.Queue.Server;

/// <summary>A queue's snapshot: its whole state, messages with their delivery state, the idempotency window (oldest
/// key first) and the dead messages not yet forwarded.</summary>
public sealed partial class QueueMachine
{
    private const int ImageVersion = 1;

    /// <inheritdoc />
    public void Snapshot(Stream output)
    {
        var w = new BinaryWriter(output);
        w.Write(ImageVersion);
        w.Write(Settings is not null);
        if (Settings is not null)
        {
            w.Write(Name!);
            var settings = MessagePackSerializer.Serialize(Settings);
            w.Write(settings.Length);
            w.Write(settings);
        }
        w.Write(CreatedAt);
        w.Write(Clock);
        w.Write(NextId);
        w.Write(DeadTotal);
        w.Write(AckedTotal);
        w.Write(_messages.Count);
        foreach (var (id, m) in _messages.OrderBy(m => m.Key))
        {
            w.Write(id);
            w.Write(m.Deliveries);
            w.Write(m.Deadline);
            WriteBytes(w, m.Body);
        }
        w.Write(_keyOrder.Count);
        foreach (var key in _keyOrder)
        {
            var r = _keys[key];
            w.Write(key);
            w.Write(r.FirstId);
            w.Write(r.Count);
        }
        w.Write(_dead.Count);
        foreach (var (id, body) in _dead)
        {
            w.Write(id);
            WriteBytes(w, body);
        }
        w.Flush();
    }

    /// <inheritdoc />
    public void Restore(Stream input)
    {
        var r = new BinaryReader(input);
        var version = r.ReadInt32();
        if (version != ImageVersion) throw new InvalidDataException($"A queue snapshot of version {version}; this server reads version {ImageVersion}.");
        _messages.Clear();
        _waiting.Clear();
        _inFlight.Clear();
        _keys.Clear();
        _keyOrder.Clear();
        _dead.Clear();
        (Name, Settings) = (null, null);
        if (r.ReadBoolean())
        {
            Name = r.ReadString();
            Settings = MessagePackSerializer.Deserialize<QueueSettings>(ReadBytes(r, "the settings"));
        }
        CreatedAt = r.ReadInt64();
        Clock = r.ReadInt64();
        NextId = r.ReadInt64();
        DeadTotal = r.ReadInt64();
        AckedTotal = r.ReadInt64();
        for (var n = r.ReadInt32(); n > 0; n--)
        {
            var id = r.ReadInt64();
            var deliveries = r.ReadInt32();
            var deadline = r.ReadInt64();
            var m = new Message(ReadBytes(r, $"message {id}")) { Deliveries = deliveries, Deadline = deadline };
            _messages[id] = m;
            if (deadline == 0) _waiting.Add(id);
            else _inFlight.Add((deadline, id));
        }
        for (var n = r.ReadInt32(); n > 0; n--)
        {
            var key = r.ReadString();
            _keys[key] = new QueueReply(QueueStatus.Ok, r.ReadInt64(), r.ReadInt32());
            _keyOrder.Enqueue(key);
        }
        for (var n = r.ReadInt32(); n > 0; n--)
        {
            var id = r.ReadInt64();
            _dead[id] = ReadBytes(r, $"dead message {id}");
        }
        applied?.Invoke(this);
    }

    private static void WriteBytes(BinaryWriter w, byte[] bytes)
    {
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    private static byte[] ReadBytes(BinaryReader r, string what)
    {
        var length = r.ReadInt32();
        var bytes = r.ReadBytes(length);
        if (bytes.Length != length) throw new InvalidDataException($"A queue snapshot ends after {bytes.Length} of the {length} bytes of {what}.");
        return bytes;
    }
}
