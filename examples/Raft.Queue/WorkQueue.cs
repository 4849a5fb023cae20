using Raft.Node;

namespace Raft.Queue;

/// <summary>The replicated state: a FIFO queue of <see cref="QueueItem"/>s plus the last result of every client
/// session (see <see cref="QueueCommand"/> for why). Every node applies the same committed commands in the same order,
/// so every node hands out the same item to the same Dequeue.</summary>
/// <remarks>All methods, and the queries passed to <c>ReadAsync</c>, run on the node's loop thread one at a time,
/// so nothing here needs a lock. Read it only through <c>ReadAsync</c>.</remarks>
public sealed class WorkQueue : IStateMachine<QueueCommand, QueueResult>
{
    // Snapshot format version: snapshot files outlive the binary that wrote them, so a reader checks what it reads.
    private const int FormatVersion = 1;

    private readonly Queue<QueueItem> _items = new();
    private readonly Dictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    /// <summary>A client's last applied request and its result, replayed to a retry of that request.</summary>
    private readonly record struct Session(long Sequence, QueueResult Result);

    /// <summary>The number of items waiting.</summary>
    public int Length => _items.Count;

    /// <summary>The item a Dequeue would return now, or null.</summary>
    public QueueItem? Peek() => _items.TryPeek(out var item) ? item : null;

    /// <summary>The number of client sessions remembered. They are never expired here; a long-running service would
    /// expire idle ones by a time carried in the commands (never the local clock: every node must decide alike).</summary>
    public int Sessions => _sessions.Count;

    /// <inheritdoc/>
    public QueueResult Apply(long index, long term, QueueCommand command)
    {
        if (_sessions.TryGetValue(command.ClientId, out var session) && command.Sequence <= session.Sequence)
        {
            // The same request again (a retry after a timeout or a lost reply): answer as the first time, change nothing.
            if (command.Sequence == session.Sequence) return session.Result;
            // Older than the last one: the client already had that answer and moved on, so this is a client bug.
            // Throwing is deterministic (every node throws), and the proposer gets a StateMachineException.
            throw new InvalidOperationException(
                $"Client {command.ClientId} sent request {command.Sequence} after request {session.Sequence}.");
        }
        QueueResult result;
        switch (command)
        {
            case Enqueue e:
                var item = new QueueItem(index, e.Payload);
                _items.Enqueue(item);
                result = new QueueResult(item, _items.Count, index);
                break;
            case Dequeue:
                result = new QueueResult(_items.TryDequeue(out var head) ? head : null, _items.Count, index);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(command), command, "Unknown queue command.");
        }
        _sessions[command.ClientId] = new Session(command.Sequence, result);
        return result;
    }

    /// <summary>Writes the items in order and every session, in a small binary format. The sessions belong to the
    /// state: without them a node restored from a snapshot would apply a retried Dequeue twice.</summary>
    public void Snapshot(Stream output)
    {
        using var w = new BinaryWriter(output, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(FormatVersion);
        w.Write(_items.Count);
        foreach (var item in _items) WriteItem(w, item);
        w.Write(_sessions.Count);
        foreach (var (client, s) in _sessions)
        {
            w.Write(client);
            w.Write(s.Sequence);
            w.Write(s.Result.Item is not null);
            if (s.Result.Item is { } item) WriteItem(w, item);
            w.Write(s.Result.Length);
            w.Write(s.Result.AppliedAt);
        }
    }

    /// <summary>Replaces the whole state with a snapshot's (on restart, or when the leader installs one).</summary>
    public void Restore(Stream input)
    {
        using var r = new BinaryReader(input, System.Text.Encoding.UTF8, leaveOpen: true);
        var version = r.ReadInt32();
        if (version != FormatVersion) throw new InvalidDataException($"Unknown queue snapshot format {version}.");
        _items.Clear();
        _sessions.Clear();
        for (int i = 0, n = r.ReadInt32(); i < n; i++) _items.Enqueue(ReadItem(r));
        for (int i = 0, n = r.ReadInt32(); i < n; i++)
        {
            var client = r.ReadString();
            var sequence = r.ReadInt64();
            var item = r.ReadBoolean() ? ReadItem(r) : null;
            var length = r.ReadInt32();
            _sessions[client] = new Session(sequence, new QueueResult(item, length, r.ReadInt64()));
        }
    }

    private static void WriteItem(BinaryWriter w, QueueItem item)
    {
        w.Write(item.Id);
        w.Write(item.Payload);
    }

    private static QueueItem ReadItem(BinaryReader r) => new(r.ReadInt64(), r.ReadString());
}
