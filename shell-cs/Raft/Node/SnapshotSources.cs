using Raft.Core;
using Raft.Storage;

namespace Raft.Node;

/// <summary>
/// The leader's side of InstallSnapshot for one group (loop thread only): the snapshots its transfers read from, open
/// by (index, term) from a transfer's first chunk to its last, so chunks are read at their offset (not by reading the
/// whole prefix again) and a newer snapshot may replace the file meanwhile (an open file stays readable, so a long
/// transfer is never restarted by the leader's own snapshots). Closed when unread for a while, or all at once.
/// </summary>
internal sealed class SnapshotSources
{
    private readonly Dictionary<(long Index, long Term), (SnapshotReader Reader, long LastRead)> _open = new();

    public int Count => _open.Count;

    /// <summary>Reads the chunk at <paramref name="offset"/> (at most <paramref name="maxBytes"/>); null when the
    /// snapshot is neither open nor stored any more (a restart between chunks).</summary>
    public SnapshotChunk? Read(ISnapshotStore? store, SnapshotMeta meta, long transferId, long offset, int maxBytes, long tick)
    {
        var key = (meta.Index, meta.Term);
        if (!_open.TryGetValue(key, out var source))
        {
            if (store?.Open(meta.Index, meta.Term) is not { } opened) return null;
            source = (opened, tick);
        }
        _open[key] = (source.Reader, tick);
        var reader = source.Reader;
        // ReadAt fills the buffer or throws (a snapshot shorter than its header says is corrupt): no copy to trim it.
        var buffer = new byte[(int)Math.Min(maxBytes, Math.Max(0, reader.Metadata.DataLength - offset))];
        reader.ReadAt(offset, buffer);
        var done = offset + buffer.Length >= reader.Metadata.DataLength;
        return new SnapshotChunk(meta, transferId, offset, buffer, done);
    }

    /// <summary>Closes the snapshots no transfer read from since <paramref name="idleSince"/> (finished or abandoned transfers).</summary>
    public void CloseIdle(long idleSince)
    {
        if (_open.Count == 0) return;
        List<(long, long)>? idle = null;
        foreach (var (key, source) in _open)
            if (source.LastRead < idleSince) (idle ??= new()).Add(key);
        if (idle is null) return;
        foreach (var key in idle)
        {
            _open.Remove(key, out var source);
            source.Reader.Dispose();
        }
    }

    /// <summary>Closes every open snapshot (the group closes, or goes quiet with every peer caught up).</summary>
    public void CloseAll()
    {
        foreach (var source in _open.Values) source.Reader.Dispose();
        _open.Clear();
    }
}
