using System.Buffers.Binary;

namespace Raft.Storage;

/// <summary>
/// The durable progress of a snapshot being received in chunks: which snapshot, which transfer, and how many data
/// bytes of its partial file are durable (with their checksum). One file, <c>receiving</c>, in the snapshot directory,
/// replaced atomically after the partial file is fdatasynced, so after a crash it names a prefix that is on disk.
/// Layout (little-endian): <c>magic "RRCV" u32 | version u16 | flags u16 | index i64 | term i64 | transferId i64 |
/// length i64 | dataCrc u32 | configLength u32 | crc u32</c> (52 bytes, the CRC covering the first 48 and the
/// configuration), then the configuration bytes.
/// </summary>
/// <param name="Index">The snapshot's last included index.</param>
/// <param name="Term">Its term.</param>
/// <param name="TransferId">The leader's transfer id of the last chunk written.</param>
/// <param name="Length">Data bytes durable in the partial file.</param>
/// <param name="DataCrc">CRC-32C of those bytes.</param>
/// <param name="Configuration">The snapshot's configuration bytes (as in the snapshot file's header).</param>
internal sealed record ReceivingRecord(long Index, long Term, long TransferId, long Length, uint DataCrc, byte[] Configuration)
{
    public const string FileName = "receiving";
    private const uint Magic = 0x56435252; // "RRCV"
    private const ushort Version = 1;
    private const int HeaderSize = 52;

    public byte[] Encode()
    {
        var bytes = new byte[HeaderSize + Configuration.Length];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], Version);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], Index);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], Term);
        BinaryPrimitives.WriteInt64LittleEndian(span[24..], TransferId);
        BinaryPrimitives.WriteInt64LittleEndian(span[32..], Length);
        BinaryPrimitives.WriteUInt32LittleEndian(span[40..], DataCrc);
        BinaryPrimitives.WriteUInt32LittleEndian(span[44..], (uint)Configuration.Length);
        Configuration.CopyTo(span[HeaderSize..]);
        BinaryPrimitives.WriteUInt32LittleEndian(span[48..], Checksum(span));
        return bytes;
    }

    /// <summary>Decodes a record, or says why it cannot be trusted and at which byte offset.</summary>
    public static ReceivingRecord? TryDecode(ReadOnlySpan<byte> bytes, out long offset, out string reason)
    {
        (offset, reason) = (0, "");
        if (bytes.Length < HeaderSize) (offset, reason) = (bytes.Length, $"record is {bytes.Length} bytes, shorter than its {HeaderSize}-byte header");
        else if (BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic) reason = "wrong magic number";
        else if (BinaryPrimitives.ReadUInt16LittleEndian(bytes[4..]) != Version) (offset, reason) = (4, "unsupported format version");
        else if (BinaryPrimitives.ReadUInt32LittleEndian(bytes[44..]) != bytes.Length - HeaderSize)
            (offset, reason) = (44, $"record says {BinaryPrimitives.ReadUInt32LittleEndian(bytes[44..])} configuration bytes but holds {bytes.Length - HeaderSize}");
        else if (BinaryPrimitives.ReadUInt32LittleEndian(bytes[48..]) != Checksum(bytes)) (offset, reason) = (48, "record checksum mismatch");
        else
        {
            long index = BinaryPrimitives.ReadInt64LittleEndian(bytes[8..]), term = BinaryPrimitives.ReadInt64LittleEndian(bytes[16..]);
            long length = BinaryPrimitives.ReadInt64LittleEndian(bytes[32..]);
            if (index < 0 || term < 0 || length < 0) (offset, reason) = (8, $"record holds a negative index {index}, term {term} or length {length}");
            // The partial file ends at header + configuration + length: a length that overflows that sum is not one a
            // file can have (unchecked, the end came out negative and passed every comparison with the file's size).
            else if (length > long.MaxValue - FileSnapshotStore.HeaderSize - (bytes.Length - HeaderSize))
                (offset, reason) = (32, $"record holds a length of {length} bytes, past the largest file offset");
            else return new ReceivingRecord(index, term, BinaryPrimitives.ReadInt64LittleEndian(bytes[24..]), length,
                BinaryPrimitives.ReadUInt32LittleEndian(bytes[40..]), bytes[HeaderSize..].ToArray());
        }
        return null;
    }

    private static uint Checksum(ReadOnlySpan<byte> bytes) =>
        Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, bytes[..48]), bytes[HeaderSize..]));
}
