using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Raft.Storage;

/// <summary>CRC-32C (Castagnoli), the checksum of every storage file and every TCP transport frame, over
/// <see cref="BitOperations.Crc32C(uint, ulong)"/> (the crc32 instruction, 8 bytes per step, where the CPU has it).
/// <c>Compute</c> returns the standard (inverted) value: "123456789" gives 0xE3069283.</summary>
public static class Crc32C
{
    /// <summary>Starts a running checksum; feed it to <see cref="Append"/> and finish with <see cref="Finish"/>.</summary>
    public const uint Seed = 0xFFFFFFFFu;

    /// <summary>The checksum of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Append(Seed, data));

    /// <summary>The checksum of a possibly multi-segment sequence (as read from a pipe); segments may split anywhere.</summary>
    public static uint Compute(in ReadOnlySequence<byte> data)
    {
        if (data.IsSingleSegment) return Compute(data.FirstSpan);
        var crc = Seed;
        foreach (var segment in data) crc = Append(crc, segment.Span);
        return Finish(crc);
    }

    /// <summary>Finishes a running checksum.</summary>
    public static uint Finish(uint running) => ~running;

    /// <summary>Adds <paramref name="data"/> to a running checksum (start from <see cref="Seed"/>). On a little-endian
    /// platform (every one .NET runs on) the 8-byte step equals eight byte steps, so a checksum may be fed in pieces
    /// split anywhere.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        ref byte p = ref MemoryMarshal.GetReference(data);
        nuint len = (nuint)data.Length, i = 0;
        while (len - i >= 8)
        {
            crc = BitOperations.Crc32C(crc, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i)));
            i += 8;
        }
        if (len - i >= 4)
        {
            crc = BitOperations.Crc32C(crc, Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, i)));
            i += 4;
        }
        while (i < len)
        {
            crc = BitOperations.Crc32C(crc, Unsafe.Add(ref p, i));
            i++;
        }
        return crc;
    }
}
