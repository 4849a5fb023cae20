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

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (FileSize < 4096) throw new ArgumentOutOfRangeException(nameof(FileSize), FileSize, "FileSize must be at least 4096 bytes.");
        if (ZeroAheadBytes < 0) throw new ArgumentOutOfRangeException(nameof(ZeroAheadBytes), ZeroAheadBytes, "ZeroAheadBytes must not be negative.");
    }
}
