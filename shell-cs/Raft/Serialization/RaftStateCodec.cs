using System.Buffers;
using MessagePack;
using Raft.Core;

namespace Raft.Serialization;

/// <summary>
/// Byte encodings of the core's non-generic durable records, for the storage layer:
/// <c>[version, HardState]</c> and <c>[version, SnapshotMeta]</c>. Decoding bad bytes throws
/// <see cref="RaftCodecException"/> and nothing else.
/// </summary>
public static class RaftStateCodec
{
    /// <summary>Writes <c>[version, hardState]</c> to <paramref name="output"/>.</summary>
    public static void WriteHardState(IBufferWriter<byte> output, HardState hardState)
    {
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(2);
        writer.Write(WireFormat.Version);
        CoreFormatters.WriteHardState(ref writer, hardState);
        writer.Flush();
    }

    /// <summary>Encodes hard state as a new byte array.</summary>
    public static byte[] EncodeHardState(HardState hardState)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        WriteHardState(buffer, hardState);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Decodes bytes written by <see cref="WriteHardState"/>.</summary>
    /// <exception cref="RaftCodecException">The bytes are truncated, of an unknown version or malformed.</exception>
    public static HardState DecodeHardState(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            var reader = new MessagePackReader(bytes);
            var n = Records.ReadHeader(ref reader, 2, "stored HardState");
            Records.ReadVersion(ref reader, "stored HardState");
            var hs = CoreFormatters.ReadHardState(ref reader);
            Records.SkipRest(ref reader, n, 2);
            Records.ExpectEnd(ref reader, "stored HardState");
            return hs;
        }
        catch (Exception ex) { throw Records.Wrap(ex, "stored HardState"); }
    }

    /// <summary>Writes <c>[version, meta]</c> to <paramref name="output"/>.</summary>
    public static void WriteSnapshotMeta(IBufferWriter<byte> output, SnapshotMeta meta)
    {
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(2);
        writer.Write(WireFormat.Version);
        CoreFormatters.WriteSnapshotMeta(ref writer, meta);
        writer.Flush();
    }

    /// <summary>Encodes snapshot metadata as a new byte array.</summary>
    public static byte[] EncodeSnapshotMeta(SnapshotMeta meta)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        WriteSnapshotMeta(buffer, meta);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Decodes bytes written by <see cref="WriteSnapshotMeta"/>.</summary>
    /// <exception cref="RaftCodecException">The bytes are truncated, of an unknown version or malformed.</exception>
    public static SnapshotMeta DecodeSnapshotMeta(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            var reader = new MessagePackReader(bytes);
            var n = Records.ReadHeader(ref reader, 2, "stored SnapshotMeta");
            Records.ReadVersion(ref reader, "stored SnapshotMeta");
            var meta = CoreFormatters.ReadSnapshotMeta(ref reader);
            Records.SkipRest(ref reader, n, 2);
            Records.ExpectEnd(ref reader, "stored SnapshotMeta");
            return meta;
        }
        catch (Exception ex) { throw Records.Wrap(ex, "stored SnapshotMeta"); }
    }
}
