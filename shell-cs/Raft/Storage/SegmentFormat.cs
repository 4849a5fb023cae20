using System.Buffers.Binary;

namespace Raft.Storage;

/// <summary>
/// Byte layouts of the log files (all integers little-endian; see README.md in this folder).
/// <code>
/// file header (32 B, .seg and .idx):  magic u32 | version u16 | flags u16 | firstIndex i64 | reserved 12 B | crc u32
/// record (28 B + payload, .seg):       headerCrc u32 | length u32 | index i64 | term i64 | payloadCrc u32 | payload
/// index entry (32 B, .idx):            index i64 | term i64 | offset i64 | kind u32 | crc u32
/// log.meta (32 B):                     magic u32 | version u16 | flags u16 | firstIndex i64 | prevTerm i64 | reserved u32 | crc u32
/// </code>
/// </summary>
internal static class SegmentFormat
{
    public const uint SegmentMagic = 0x47455352; // "RSEG"
    public const uint IndexMagic = 0x58444952;   // "RIDX"
    public const uint MetaMagic = 0x544D4C52;    // "RLMT"
    public const ushort Version = 1;

    public const int FileHeaderSize = 32;
    public const int RecordHeaderSize = 28;
    public const int IndexEntrySize = 32;
    public const int MetaSize = 32;

    public const uint KindPoint = 1; // a record starts at this offset
    public const uint KindSeal = 2;  // the segment is complete: index = last index, term = last term, offset = length

    public const string SegmentExtension = ".seg";
    public const string IndexExtension = ".idx";
    public const string MetaFileName = "log.meta";
    public const string LockFileName = "log.lock";

    public static string SegmentName(long firstIndex) => firstIndex.ToString("D20") + SegmentExtension;
    public static string IndexName(long firstIndex) => firstIndex.ToString("D20") + IndexExtension;

    /// <summary>Parses <c>00000000000000000001.seg</c>; false for any other name.</summary>
    public static bool TryParseSegmentName(string fileName, out long firstIndex)
    {
        firstIndex = 0;
        return fileName.Length == 20 + SegmentExtension.Length && fileName.EndsWith(SegmentExtension, StringComparison.Ordinal)
            && long.TryParse(fileName.AsSpan(0, 20), System.Globalization.NumberStyles.None, null, out firstIndex) && firstIndex > 0;
    }

    public static void WriteFileHeader(Span<byte> dst, uint magic, long firstIndex)
    {
        dst[..FileHeaderSize].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(dst, magic);
        BinaryPrimitives.WriteUInt16LittleEndian(dst[4..], Version);
        BinaryPrimitives.WriteInt64LittleEndian(dst[8..], firstIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[28..], Crc32C.Compute(dst[..28]));
    }

    /// <summary>Null when the header is valid for <paramref name="magic"/> and <paramref name="firstIndex"/>, else why not.</summary>
    public static string? CheckFileHeader(ReadOnlySpan<byte> src, uint magic, long firstIndex)
    {
        if (src.Length < FileHeaderSize) return "file header is incomplete";
        if (BinaryPrimitives.ReadUInt32LittleEndian(src[28..]) != Crc32C.Compute(src[..28])) return "file header checksum mismatch";
        if (BinaryPrimitives.ReadUInt32LittleEndian(src) != magic) return "wrong magic number (not a file of this kind)";
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(src[4..]);
        if (version != Version) return $"unsupported format version {version} (this build reads version {Version})";
        long first = BinaryPrimitives.ReadInt64LittleEndian(src[8..]);
        if (first != firstIndex) return $"header says first index {first} but the file name says {firstIndex}";
        return null;
    }

    /// <summary>Writes a record header for a payload already placed right after it; returns the record's size.</summary>
    public static int WriteRecordHeader(Span<byte> dst, long index, long term, ReadOnlySpan<byte> payload)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(dst[4..], (uint)payload.Length);
        BinaryPrimitives.WriteInt64LittleEndian(dst[8..], index);
        BinaryPrimitives.WriteInt64LittleEndian(dst[16..], term);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[24..], Crc32C.Compute(payload));
        BinaryPrimitives.WriteUInt32LittleEndian(dst, Crc32C.Compute(dst.Slice(4, RecordHeaderSize - 4)));
        return RecordHeaderSize + payload.Length;
    }

    /// <summary>A decoded record header; valid only when <see cref="CheckRecordHeader"/> returned true.</summary>
    public readonly record struct RecordHeader(int Length, long Index, long Term, uint PayloadCrc);

    public static bool CheckRecordHeader(ReadOnlySpan<byte> src, out RecordHeader header)
    {
        header = new RecordHeader(
            (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(src[4..]), int.MaxValue),
            BinaryPrimitives.ReadInt64LittleEndian(src[8..]),
            BinaryPrimitives.ReadInt64LittleEndian(src[16..]),
            BinaryPrimitives.ReadUInt32LittleEndian(src[24..]));
        return BinaryPrimitives.ReadUInt32LittleEndian(src) == Crc32C.Compute(src.Slice(4, RecordHeaderSize - 4));
    }

    public static void WriteIndexEntry(Span<byte> dst, long index, long term, long offset, uint kind)
    {
        BinaryPrimitives.WriteInt64LittleEndian(dst, index);
        BinaryPrimitives.WriteInt64LittleEndian(dst[8..], term);
        BinaryPrimitives.WriteInt64LittleEndian(dst[16..], offset);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[24..], kind);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[28..], Crc32C.Compute(dst[..28]));
    }

    public static bool TryReadIndexEntry(ReadOnlySpan<byte> src, out IndexPoint point, out uint kind)
    {
        point = new IndexPoint(BinaryPrimitives.ReadInt64LittleEndian(src), BinaryPrimitives.ReadInt64LittleEndian(src[8..]),
            BinaryPrimitives.ReadInt64LittleEndian(src[16..]));
        kind = BinaryPrimitives.ReadUInt32LittleEndian(src[24..]);
        return BinaryPrimitives.ReadUInt32LittleEndian(src[28..]) == Crc32C.Compute(src[..28]);
    }

    public static void WriteMeta(Span<byte> dst, long firstIndex, long prevTerm)
    {
        dst[..MetaSize].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(dst, MetaMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(dst[4..], Version);
        BinaryPrimitives.WriteInt64LittleEndian(dst[8..], firstIndex);
        BinaryPrimitives.WriteInt64LittleEndian(dst[16..], prevTerm);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[28..], Crc32C.Compute(dst[..28]));
    }

    public static string? TryReadMeta(ReadOnlySpan<byte> src, out long firstIndex, out long prevTerm)
    {
        firstIndex = prevTerm = 0;
        if (src.Length != MetaSize) return $"file is {src.Length} bytes, expected {MetaSize}";
        if (BinaryPrimitives.ReadUInt32LittleEndian(src[28..]) != Crc32C.Compute(src[..28])) return "checksum mismatch";
        if (BinaryPrimitives.ReadUInt32LittleEndian(src) != MetaMagic) return "wrong magic number";
        if (BinaryPrimitives.ReadUInt16LittleEndian(src[4..]) != Version) return "unsupported format version";
        firstIndex = BinaryPrimitives.ReadInt64LittleEndian(src[8..]);
        prevTerm = BinaryPrimitives.ReadInt64LittleEndian(src[16..]);
        return firstIndex < 1 || prevTerm < 0 ? "values out of range" : null;
    }
}

/// <summary>A point of a segment's sparse offset index: the record for <see cref="Index"/> starts at byte
/// <see cref="Offset"/> and has <see cref="Term"/>.</summary>
internal readonly record struct IndexPoint(long Index, long Term, long Offset);
