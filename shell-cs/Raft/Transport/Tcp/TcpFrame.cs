using System.Buffers;
using System.Buffers.Binary;
using Raft.Storage;

namespace Raft.Transport.Tcp;

/// <summary>Kinds of frames, carried in the header's flags byte.</summary>
internal enum FrameKind : byte
{
    /// <summary>A payload for the receive handler.</summary>
    Data = 0,
    /// <summary>The dialer's handshake.</summary>
    Hello = 1,
    /// <summary>The acceptor's answer to a handshake.</summary>
    HelloReply = 2,
    /// <summary>The dialer's cluster-secret proof, after the reply (only when a cluster secret is configured).</summary>
    HelloProof = 3,
}

/// <summary>Why a frame was rejected; every value closes the connection and counts a bad frame.</summary>
internal enum FrameError
{
    None,
    BadMagic,
    BadVersion,
    BadFlags,
    Oversized,
    BadChecksum,
}

/// <summary>
/// The TCP frame: <c>magic "RAFT" (4) | version (1) | flags (1) | payload length (uint32 LE) | CRC-32C of payload (uint32 LE) | payload</c>.
/// The header is checked before the payload is awaited, so an oversized length is refused without buffering it.
/// </summary>
internal static class TcpFrame
{
    /// <summary>Header size in bytes.</summary>
    public const int HeaderSize = 14;
    /// <summary>The frame format version this build speaks.</summary>
    public const byte Version = 1;
    /// <summary>"RAFT" read as a little-endian uint32.</summary>
    public const uint Magic = 0x54464152;

    /// <summary>Reserves a header at the writer's position; returns the position to pass to <see cref="Complete"/>.</summary>
    public static int Begin(PooledBufferWriter output)
    {
        var start = output.WrittenCount;
        output.GetSpan(HeaderSize);
        output.Advance(HeaderSize);
        return start;
    }

    /// <summary>Fills the header reserved at <paramref name="start"/> once the payload after it is written; returns the payload length.</summary>
    public static int Complete(PooledBufferWriter output, int start, FrameKind kind)
    {
        var frame = output.WrittenSpan[start..];
        var payload = frame[HeaderSize..];
        WriteHeader(frame, kind, payload.Length, Crc32C.Compute(payload));
        return payload.Length;
    }

    /// <summary>Writes a header for a payload of <paramref name="length"/> bytes with checksum <paramref name="crc"/>.</summary>
    public static void WriteHeader(Span<byte> header, FrameKind kind, int length, uint crc)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        header[4] = Version;
        header[5] = (byte)kind;
        BinaryPrimitives.WriteUInt32LittleEndian(header[6..], (uint)length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[10..], crc);
    }

    /// <summary>
    /// Tries to take one frame off the front of <paramref name="buffer"/>. Returns false when more bytes are needed
    /// (and <paramref name="error"/> is <see cref="FrameError.None"/>) or when the frame is bad (error set).
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, int maxPayload, out FrameKind kind, out ReadOnlySequence<byte> payload, out FrameError error)
    {
        kind = FrameKind.Data;
        payload = default;
        error = FrameError.None;
        if (buffer.Length < HeaderSize) return false;
        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic) { error = FrameError.BadMagic; return false; }
        if (header[4] != Version) { error = FrameError.BadVersion; return false; }
        if (header[5] > (byte)FrameKind.HelloProof) { error = FrameError.BadFlags; return false; }
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header[6..]);
        if (length > (uint)maxPayload) { error = FrameError.Oversized; return false; }
        if (buffer.Length < HeaderSize + length) return false;
        payload = buffer.Slice(HeaderSize, length);
        if (Crc32C.Compute(payload) != BinaryPrimitives.ReadUInt32LittleEndian(header[10..])) { error = FrameError.BadChecksum; return false; }
        kind = (FrameKind)header[5];
        buffer = buffer.Slice(HeaderSize + length);
        return true;
    }
}
