using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;

namespace Raft.Transport.Tcp;

/// <summary>CRC-32C (Castagnoli) over spans and sequences, using the hardware instruction behind <see cref="BitOperations.Crc32C(uint, ulong)"/>.</summary>
internal static class Crc32C
{
    /// <summary>The checksum of <paramref name="data"/> (standard: initial and final value inverted).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(uint.MaxValue, data);

    /// <summary>The checksum of a possibly multi-segment sequence (as read from a pipe).</summary>
    public static uint Compute(in ReadOnlySequence<byte> data)
    {
        if (data.IsSingleSegment) return Compute(data.FirstSpan);
        var state = uint.MaxValue;
        foreach (var segment in data) state = Update(state, segment.Span);
        return ~state;
    }

    private static uint Update(uint state, ReadOnlySpan<byte> data)
    {
        // 8 bytes per instruction; the ulong form equals eight byte steps, so segments may split anywhere.
        while (data.Length >= 8)
        {
            state = BitOperations.Crc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (var b in data) state = BitOperations.Crc32C(state, b);
        return state;
    }
}
