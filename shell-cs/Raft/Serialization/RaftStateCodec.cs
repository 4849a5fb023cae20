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
        Records.WriteVersioned(output, hardState, CoreFormatters.WriteHardState);

    /// <summary>Encodes hard state as a new byte array.</summary>
    public static byte[] EncodeHardState(HardState hardState) => Records.Encode(hardState, WriteHardState, 128);

    /// <summary>Decodes bytes written by <see cref="WriteHardState"/>.</summary>
    /// <exception cref="RaftCodecException">The bytes are truncated, of an unknown version or malformed.</exception>
    public static HardState DecodeHardState(ReadOnlyMemory<byte> bytes) =>
        Records.ReadVersioned(new ReadOnlySequence<byte>(bytes), "stored HardState", CoreFormatters.ReadHardState);

    /// <summary>Writes <c>[version, meta]</c> to <paramref name="output"/>.</summary>
    public static void WriteSnapshotMeta(IBufferWriter<byte> output, SnapshotMeta meta) =>
        Records.WriteVersioned(output, meta, CoreFormatters.WriteSnapshotMeta);

    /// <summary>Encodes snapshot metadata as a new byte array.</summary>
    public static byte[] EncodeSnapshotMeta(SnapshotMeta meta) => Records.Encode(meta, WriteSnapshotMeta, 128);

    /// <summary>Decodes bytes written by <see cref="WriteSnapshotMeta"/>.</summary>
    /// <exception cref="RaftCodecException">The bytes are truncated, of an unknown version or malformed.</exception>
    public static SnapshotMeta DecodeSnapshotMeta(ReadOnlyMemory<byte> bytes) =>
        Records.ReadVersioned(new ReadOnlySequence<byte>(bytes), "stored SnapshotMeta", CoreFormatters.ReadSnapshotMeta);
}
