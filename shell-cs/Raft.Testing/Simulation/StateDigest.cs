using System.Buffers.Binary;

namespace Raft.Testing;

/// <summary>A stable 64-bit digest of bytes (the same on every machine and .NET version, unlike
/// <see cref="HashCode"/>), never 0: the simulator reads 0 as "no digest at this index".</summary>
internal static class StateDigest
{
    public static ulong Of(ReadOnlySpan<byte> bytes)
    {
        var h = 0x9E3779B97F4A7C15UL ^ (ulong)bytes.Length;
        var i = 0;
        for (; i + 8 <= bytes.Length; i += 8)
            h = Mix(h ^ BinaryPrimitives.ReadUInt64LittleEndian(bytes[i..]));
        ulong tail = 0;
        for (var k = 0; i < bytes.Length; i++, k += 8) tail |= (ulong)bytes[i] << k;
        h = Mix(h ^ tail);
        return h == 0 ? 1 : h;
    }

    /// <summary>A user fingerprint made safe for the simulator (0 means "none" there).</summary>
    public static ulong NonZero(ulong fingerprint) => fingerprint == 0 ? 1 : fingerprint;

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
