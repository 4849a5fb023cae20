namespace Raft.Storage;

/// <summary>Options of <see cref="FileLogStorage"/>; checked by <see cref="Validate"/> when the log opens.</summary>
public sealed class FileLogOptions
{
    /// <summary>A new segment is started when a record would make the active one larger than this (64 MiB).</summary>
    public long SegmentSize { get; init; } = 64L << 20;

    /// <summary>Bytes of records between two points of the sparse offset index (16 KiB): a read scans at most this
    /// much to find its first record, and opening scans at most this much of the last segment.</summary>
    public int IndexInterval { get; init; } = 16 << 10;

    /// <summary>Appended bytes are gathered in memory up to this size (1 MiB) and written with one call at the next
    /// flush, read or when full.</summary>
    public int WriteBufferSize { get; init; } = 1 << 20;

    /// <summary>The smallest <see cref="WriteBufferSize"/> accepted.</summary>
    public const int MinWriteBufferSize = 4096;

    /// <summary>The active segment is extended with zeros this far (1 MiB) ahead of its records, written like records
    /// and made durable by the flush that crosses into them. Later flushes then overwrite blocks that already exist
    /// inside the file size, so <c>fdatasync</c> writes only data, without committing a new file size and block
    /// allocation to the file-system journal each time. The zeros are cut off when a segment is sealed, when the log is
    /// closed, and (as a torn tail) when it is opened after a crash. Zero disables it.</summary>
    public int PreallocateSize { get; init; } = 1 << 20;

    /// <summary>Largest payload accepted (64 MiB); a larger length in a record header is treated as damage.</summary>
    public int MaxRecordSize { get; init; } = 64 << 20;

    /// <summary>Create the directory if it does not exist. Off by default: a node whose data directory vanished (an
    /// unmounted volume, a typo) must not silently start with an empty log and forget what it acknowledged.</summary>
    public bool CreateIfMissing { get; init; }

    /// <summary>On open, truncate the last segment at a checksum failure instead of refusing to start. Only for the
    /// unsynced tail after a power loss that reordered page writes; it can drop acknowledged entries otherwise.</summary>
    public bool TruncateCorruptTail { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for values the log cannot work with.</summary>
    public void Validate()
    {
        if (SegmentSize < 4096) throw new ArgumentOutOfRangeException(nameof(SegmentSize), SegmentSize, "SegmentSize must be at least 4096 bytes.");
        if (IndexInterval < 256) throw new ArgumentOutOfRangeException(nameof(IndexInterval), IndexInterval, "IndexInterval must be at least 256 bytes.");
        if (WriteBufferSize < MinWriteBufferSize) throw new ArgumentOutOfRangeException(nameof(WriteBufferSize), WriteBufferSize, $"WriteBufferSize must be at least {MinWriteBufferSize} bytes.");
        if (PreallocateSize < 0) throw new ArgumentOutOfRangeException(nameof(PreallocateSize), PreallocateSize, "PreallocateSize must not be negative.");
        if (MaxRecordSize < 1 || MaxRecordSize > int.MaxValue - 64) throw new ArgumentOutOfRangeException(nameof(MaxRecordSize), MaxRecordSize, "MaxRecordSize must be between 1 and 2^31 - 64.");
    }
}
