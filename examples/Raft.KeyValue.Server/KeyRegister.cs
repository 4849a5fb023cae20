using Raft.MultiRaft;
using Raft.Node;

namespace Raft.KeyValue.Server;

/// <summary>The keys of one group with their values and versions: one key under per-key placement, many under hash
/// placement. A key's version is the log index of its last write, so it grows with every write of the key and a
/// compare-and-set names exactly the write it expects.</summary>
/// <param name="groupId">The group, named to <paramref name="applied"/>.</param>
/// <param name="applied">Told of every write applied and every snapshot restored (long polls and /events); null for none.</param>
/// <param name="groupName">The group's name in the directory: under per-key placement the key itself, for the writes and
/// snapshots made before writes named their key (a data folder of an earlier version); null when there are none.</param>
public sealed class KeyRegister(long groupId = 0, IKeyApplied? applied = null, Func<string?>? groupName = null) : IStateMachine<KvWrite, KvWriteResult>, INamedKeys
{
    private const long ImageMarker = -2; // first field of a snapshot; never a version (those are 0 or more)
    private readonly Dictionary<string, (byte[] Value, long Version)> _values = new(StringComparer.Ordinal);
    // The same keys in order, for listing by prefix without a scan of the group.
    private readonly SortedSet<string> _order = new(StringComparer.Ordinal);

    /// <summary>How many keys the group holds.</summary>
    public int Count => _values.Count;

    /// <summary>The value of <paramref name="key"/> and its version; (null, 0) when absent (never written, or deleted).</summary>
    public (byte[]? Value, long Version) Read(string key) => _values.TryGetValue(key, out var v) ? v : (null, 0);

    public KvWriteResult Apply(long index, long term, KvWrite command)
    {
        var key = command.Key ?? LegacyKey();
        var result = ApplyWrite(index, key, command);
        applied?.Applied(groupId, key, index, term, Read(key).Version);
        return result;
    }

    private KvWriteResult ApplyWrite(long index, string key, KvWrite command)
    {
        var version = Read(key).Version;
        if (command.IfVersion >= 0 && command.IfVersion != version) return new(KvStatus.VersionMismatch, version);
        if (command.Delete)
        {
            if (!_values.Remove(key)) return new(KvStatus.NotFound, 0);
            _order.Remove(key);
            return new(KvStatus.Ok, index);
        }
        _values[key] = (command.Value ?? [], index);
        _order.Add(key);
        return new(KvStatus.Ok, index);
    }

    /// <inheritdoc />
    public IEnumerable<string> Names(string prefix)
    {
        // Ordinal order puts the keys with the prefix in one run starting at the prefix itself.
        var run = prefix.Length == 0 || _order.Count == 0 || string.CompareOrdinal(prefix, _order.Max) > 0 ? _order
            : _order.GetViewBetween(prefix, _order.Max!);
        foreach (var key in run)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal)) yield break;
            yield return key;
        }
    }

    public void Snapshot(Stream output)
    {
        var w = new BinaryWriter(output);
        w.Write(ImageMarker);
        w.Write(_values.Count);
        foreach (var key in _order)
        {
            var (value, version) = _values[key];
            w.Write(key);
            w.Write(version);
            w.Write(value.Length);
            w.Write(value);
        }
        w.Flush();
    }

    /// <summary>A snapshot from before keys were named: one key's version, then its value (length -1: absent).</summary>
    private void RestoreOneKey(BinaryReader r, long version)
    {
        var length = r.ReadInt32();
        if (length < 0) return;
        var value = r.ReadBytes(length);
        if (value.Length != length) throw new InvalidDataException($"A key snapshot ends after {value.Length} of its {length} value bytes.");
        var key = LegacyKey();
        _values[key] = (value, version);
        _order.Add(key);
    }

    private string LegacyKey() =>
        groupName?.Invoke() ?? throw new InvalidDataException($"Group {groupId} holds a write or snapshot that names no key, and the group's name is unknown.");

    public void Restore(Stream input)
    {
        var r = new BinaryReader(input);
        var first = r.ReadInt64();
        var before = _order.ToArray();
        _values.Clear();
        _order.Clear();
        if (first != ImageMarker) RestoreOneKey(r, first);
        else for (var n = r.ReadInt32(); n > 0; n--)
        {
            var key = r.ReadString();
            var version = r.ReadInt64();
            var length = r.ReadInt32();
            var value = r.ReadBytes(length);
            if (value.Length != length) throw new InvalidDataException($"A key snapshot ends after {value.Length} of the {length} value bytes of '{key}'.");
            _values[key] = (value, version);
            _order.Add(key);
        }
        if (applied is null) return;
        // Watchers of keys the snapshot dropped hear of it too.
        foreach (var key in before.Concat(_order).Distinct(StringComparer.Ordinal))
        {
            var version = Read(key).Version;
            applied.Applied(groupId, key, version, 0, version);
        }
    }
}
