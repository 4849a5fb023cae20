using System.Buffers.Binary;

namespace Raft.Storage;

/// <summary>The on-disk format of the shared log (<see cref="SharedLog"/>): files, batches and items.</summary>
/// <remarks>
/// A file <c>{sequence:D16}.rlog</c> starts with a 32-byte header: magic <c>RAFTSLOG</c> (8 bytes), format version
/// (u32), file sequence (u64), store id (u64, chosen when the directory is created, so a file of another log is
/// refused), and the CRC-32C of the 28 bytes before it (u32).
/// Batches follow, each 8-byte aligned: marker (u32), body length (u32), batch sequence (u64, +1 per batch across
/// files), CRC-32C (u32) over file sequence, batch sequence, body length and body, 4 bytes of zero; then the body,
/// padded with zeros to 8 bytes. A zero marker where a batch would start ends the file (the space after the last batch
/// is zeros written ahead). The body is a sequence of items: group id (i64), type (u8), payload length (i32), payload.
/// </remarks>
internal static class SharedLogFormat
{
    public const string Extension = ".rlog";
    public const string LockFileName = "LOCK";
    public const int HeaderSize = 32;
    public const int BatchHeaderSize = 24;
    public const int ItemHeaderSize = 13;
    public const uint Version = 1;
    public const uint BatchMarker = 0x48544142; // "BATH"
    private static ReadOnlySpan<byte> Magic => "RAFTSLOG"u8;

    public static string FileName(long sequence) => $"{sequence:D16}{Extension}";

    public static bool TryParseFileName(string name, out long sequence)
    {
        sequence = 0;
        return name.Length == 16 + Extension.Length && name.EndsWith(Extension, StringComparison.Ordinal)
               && long.TryParse(name.AsSpan(0, 16), System.Globalization.NumberStyles.None, null, out sequence) && sequence > 0;
    }

    public static void WriteHeader(Span<byte> header, long sequence, long storeId)
    {
        header[..HeaderSize].Clear();
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteInt64LittleEndian(header[12..], sequence);
        BinaryPrimitives.WriteInt64LittleEndian(header[20..], storeId);
        BinaryPrimitives.WriteUInt32LittleEndian(header[28..], Crc32C.Compute(header[..28]));
    }

    /// <summary>Reads a header; returns why it is not valid, or null.</summary>
    public static string? ReadHeader(ReadOnlySpan<byte> header, out long sequence, out long storeId)
    {
        sequence = storeId = 0;
        if (header.Length < HeaderSize) return $"the file is {header.Length} bytes, shorter than its {HeaderSize}-byte header";
        if (!header[..8].SequenceEqual(Magic)) return "the file does not start with the shared log's magic";
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[28..]) != Crc32C.Compute(header[..28])) return "the file header fails its checksum";
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (version != Version) return $"the file has format version {version}; this library reads version {Version}";
        sequence = BinaryPrimitives.ReadInt64LittleEndian(header[12..]);
        storeId = BinaryPrimitives.ReadInt64LittleEndian(header[20..]);
        return null;
    }

    /// <summary>The checksum of a batch: file sequence and batch sequence folded in, so a batch left in reused space
    /// from another file or an earlier life of this one fails.</summary>
    public static uint BatchCrc(long fileSequence, long batchSequence, ReadOnlySpan<byte> body)
    {
        Span<byte> prefix = stackalloc byte[20];
        BinaryPrimitives.WriteInt64LittleEndian(prefix, fileSequence);
        BinaryPrimitives.WriteInt64LittleEndian(prefix[8..], batchSequence);
        BinaryPrimitives.WriteInt32LittleEndian(prefix[16..], body.Length);
        return Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, prefix), body));
    }

    public static int Align8(int n) => (n + 7) & ~7;
    public static long Align8(long n) => (n + 7) & ~7L;
}

/// <summary>What an item of the shared log does to its group (replayed in log order).</summary>
internal enum SharedItem : byte
{
    /// <summary>A new incarnation of the group (payload: incarnation i64); its earlier state is gone.</summary>
    Open = 1,
    /// <summary>Entries (first index i64, count i32, count x (term i64, length i32), payloads); everything from the first
    /// index on is replaced.</summary>
    Entries = 2,
    /// <summary>Entries from an index on removed (from i64).</summary>
    Truncate = 3,
    /// <summary>The group's hard state (opaque bytes); the last one wins.</summary>
    HardState = 4,
    /// <summary>Entries up to an index discarded, later ones kept (index i64, term i64).</summary>
    CompactTo = 5,
    /// <summary>Every entry discarded; the log continues after index with term (index i64, term i64).</summary>
    Reset = 6,
    /// <summary>The group removed.</summary>
    Remove = 7,
    /// <summary>Every live group's metadata and hard state (group id 0); the first item of every file.</summary>
    Checkpoint = 8,
    /// <summary>Live entries rewritten from older files so those can be deleted (the Entries layout); the entries, with
    /// the same terms, now live here, and nothing else changes (no truncation after them).</summary>
    Relocate = 9,
}
