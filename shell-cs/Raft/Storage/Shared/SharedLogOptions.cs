namespace Raft.Storage;

/// <summary>Settings of a <see cref="SharedLog"/>.</summary>
public sealed class SharedLogOptions
{
    /// <summary>A file is sealed and the next one started once it holds this many bytes (64 MiB).</summary>
    public long FileSize { get; init; } = 64L << 20;

    /// <summary>The active file is extended with zeros this far (1 MiB) ahead of its batches, written with them and made
    /// durable by the fdatasync that crosses into them, so later fdatasyncs overwrite blocks that already exist and
    /// commit no new file size (see <see cref="FileLogOptions.PreallocateSize"/>). 0 turns it off.</summary>
    public int ZeroAheadBytes { get; init; } = 1 << 20;

    /// <summary>When the sealed files take more than this many times the bytes of the live entries in them (2), the
    /// live entries of the groups that pin the oldest file (idle, or slow to snapshot) are rewritten into the active
    /// file so the old files can be deleted: disk stays within about this ratio of live data, plus the active file.
    /// Checked when a file is sealed and when the log opens, once the sealed files hold at least
    /// <see cref="FileSize"/> bytes. 0 turns relocation off (a group that never compacts then
    /// keeps its oldest file and every later one).</summary>
    public double RelocationRatio { get; init; } = 2.0;

    /// <summary>The file layer batches are written and synced through; tests replace it to inject failures.</summary>
    internal SharedLogDisk Disk { get; init; } = SharedLogDisk.Real;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (FileSize < 4096) throw new ArgumentOutOfRangeException(nameof(FileSize), FileSize, "FileSize must be at least 4096 bytes.");
        if (RelocationRatio < 0 || double.IsNaN(RelocationRatio))
            throw new ArgumentOutOfRangeException(nameof(RelocationRatio), RelocationRatio, "RelocationRatio must be 0 (off) or positive.");
        if (RelocationRatio is > 0 and < 1)
            throw new ArgumentOutOfRangeException(nameof(RelocationRatio), RelocationRatio, "RelocationRatio must be at least 1: below it live data alone would trigger relocation on every file.");
        if (ZeroAheadBytes < 0) throw new ArgumentOutOfRangeException(nameof(ZeroAheadBytes), ZeroAheadBytes, "ZeroAheadBytes must not be negative.");
    }
}
