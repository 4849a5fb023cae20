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
    public static void WriteHardState(IBufferWriter<byte> output, HardState hardState) =>
        WriteVersioned(output, hardState, CoreFormatters.WriteHardState);

    /// <summary>Encodes hard state as a new byte array.</summary>
    public static byte[] EncodeHardState(HardState hardState) => Encode(hardState, WriteHardState);

    /// <summary>Decodes bytes written by <see cref="WriteHardState"/>.</summary>
    /// <exception cref="RaftCodecException">The bytes are truncated, of an unknown version or malformed.</exception>
    public static HardState DecodeHardState(ReadOnlyMemory<byte> bytes) =>
        ReadVersioned(bytes, "stored HardState", CoreFormatters.ReadHardState);

    /// <summary>Writes <c>[version, meta]</c> to <paramref name="output"/>.</summary>
    public static void WriteSnapshotMeta(IBufferWriter<byte> output, SnapshotMeta meta) =>
        WriteVersioned(output, meta, CoreFormatters.WriteSnapshotMeta);

    /// <summary>Encodes snapshot metadata as a new byte array.</summary>
    public static byte[] EncodeSnapshotMeta(SnapshotMeta meta) => Encode(meta, WriteSnapshotMeta);

    /// <summary>Decodes bytes written by <see cref="WriteSnapshotMeta"/>.</summary>
    /// <exception cref="RaftCodecException">The bytes are truncated, of an unknown version or malformed.</exception>
    public static SnapshotMeta DecodeSnapshotMeta(ReadOnlyMemory<byte> bytes) =>
        ReadVersioned(bytes, "stored SnapshotMeta", CoreFormatters.ReadSnapshotMeta);

    private delegate void BodyWriter<in T>(ref MessagePackWriter writer, T value);
    private delegate T BodyReader<out T>(ref MessagePackReader reader);

    // Every stored record is [version, body]: one writer and one reader for the envelope.
    private static void WriteVersioned<T>(IBufferWriter<byte> output, T value, BodyWriter<T> body)
    {
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(2);
        writer.Write(WireFormat.Version);
        body(ref writer, value);
        writer.Flush();
    }

    private static byte[] Encode<T>(T value, Action<IBufferWriter<byte>, T> write)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        write(buffer, value);
        return buffer.WrittenSpan.ToArray();
    }

    private static T ReadVersioned<T>(ReadOnlyMemory<byte> bytes, string what, BodyReader<T> body)
    {
        try
        {
            var reader = new MessagePackReader(bytes);
            var n = Records.ReadHeader(ref reader, 2, what);
            Records.ReadVersion(ref reader, what);
            var value = body(ref reader);
            Records.SkipRest(ref reader, n, 2);
            Records.ExpectEnd(ref reader, what);
            return value;
        }
        catch (Exception ex) { throw Records.Wrap(ex, what); }
    }
}
