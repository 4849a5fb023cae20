namespace Raft.Storage;

public sealed partial class SharedLog
{
    /// <summary>Live payload bytes rewritten per batch while relocating (4 MiB, or a quarter of a file): bounds the
    /// staging buffer.</summary>
    private long RelocationBatchBytes => Math.Min(4L << 20, _options.FileSize / 4);

    /// <summary>Deletes the files no live entry needs, then relocates the live entries of the groups that pin the oldest
    /// file while the sealed files are mostly garbage. Runs with nothing staged, right after a commit, so the index it
    /// reads is the durable state.</summary>
    /// <remarks>Crash-safe at every step: relocated entries are durable (their batch fdatasynced) before a file they
    /// leave is deleted, and a file is deleted only when no live entry is in it, so a crash leaves either the old
    /// location or the new one of every entry, both valid on replay. Files go oldest first, so a crash between deletions
    /// leaves a contiguous run of files, the first of which starts with a checkpoint.</remarks>
    private void CollectGarbage()
    {
        DeleteDeadFiles();
        if (_options.RelocationRatio <= 0) return;
        while (_files.Count > 1)
        {
            long oldest = _files.Keys.First();
            long sealedBytes = 0, liveBytes = 0;
            foreach (var sequence in _files.Keys)
                if (sequence != _active) sealedBytes += _dataEnd.GetValueOrDefault(sequence);
            foreach (var g in _groups.Values) liveBytes += g.LiveBytesBefore(_active);
            // Less than a file's worth of sealed data is not worth rewriting (a restart seals a small file each time).
            if (sealedBytes < _options.FileSize || sealedBytes <= _options.RelocationRatio * liveBytes) return;
            foreach (var g in _groups.Values)
                if (g.OldestFile() == oldest) Relocate(g);
            if (_pendingLength > 0) WriteBatch();
            DeleteDeadFiles();
        }
    }

    /// <summary>Stages every live entry of <paramref name="g"/> that is in a sealed file as Relocate items into the active
    /// file, writing a batch whenever <see cref="RelocationBatchBytes"/> are staged.</summary>
    private void Relocate(SharedGroupState g)
    {
        var run = new List<LogRecord>();
        long runBytes = 0;
        for (long index = g.FirstIndex; index <= g.LastIndex + 1; index++)
        {
            bool move = index <= g.LastIndex && g.At(index).File < _active;
            if (move)
            {
                var e = g.At(index);
                run.Add(new LogRecord(index, e.Term, ReadPayload(e)));
                runBytes += e.Length;
            }
            if (run.Count > 0 && (!move || runBytes >= RelocationBatchBytes))
            {
                var records = run.ToArray();
                var into = Stage(g.Id, SharedItem.Relocate, SharedLogItems.EntriesSize(records.Length, runBytes), out long at);
                Check(g.ApplyRelocate(records[0].Index, SharedLogItems.EncodeEntries(into, records, _active, at)));
                EntriesRelocated += records.Length;
                run.Clear();
                if (runBytes >= RelocationBatchBytes || _pendingLength >= RelocationBatchBytes) WriteBatch();
                runBytes = 0;
            }
        }
    }

    /// <summary>Deletes the files older than the oldest live entry (never the active one), oldest first.</summary>
    private void DeleteDeadFiles()
    {
        long watermark = _active;
        foreach (var g in _groups.Values) watermark = Math.Min(watermark, g.OldestFile());
        var dead = _files.Keys.Where(s => s < watermark).ToList();
        foreach (var sequence in dead)
        {
            _files[sequence].Dispose();
            _files.Remove(sequence);
            _dataEnd.Remove(sequence);
            try { File.Delete(FilePath(sequence)); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "delete", FilePath(sequence)); }
            FilesDeleted++;
        }
        if (dead.Count > 0) NativeMethods.SyncDirectory(_directory);
    }
}
