using System.Buffers.Binary;

namespace Raft.Fuzz;

/// <summary>The input layout of the file targets: a flags byte, then chunks <c>tag u8 | length u16 LE | bytes</c>
/// (a length past the end takes what is left), so one input can hold several files and afl-fuzz can grow, cut and
/// splice them.</summary>
public static class Chunks
{
    /// <summary>Flag bit: recompute the checksums and length fields a file format carries before writing the files,
    /// so mutations get past the checksum checks to the code behind them (clear: the bytes are written as they are).</summary>
    public const byte FixChecksums = 1;

    public static (byte Flags, List<(byte Tag, byte[] Bytes)> Files) Read(byte[] input)
    {
        var files = new List<(byte, byte[])>();
        if (input.Length == 0) return (0, files);
        int at = 1;
        while (at + 3 <= input.Length)
        {
            byte tag = input[at];
            int length = Math.Min(BinaryPrimitives.ReadUInt16LittleEndian(input.AsSpan(at + 1)), input.Length - at - 3);
            files.Add((tag, input.AsSpan(at + 3, length).ToArray()));
            at += 3 + length;
        }
        return (input[0], files);
    }

    public static byte[] Write(byte flags, IEnumerable<(byte Tag, byte[] Bytes)> files)
    {
        var output = new MemoryStream();
        output.WriteByte(flags);
        Span<byte> length = stackalloc byte[2];
        foreach (var (tag, bytes) in files)
        {
            if (bytes.Length > ushort.MaxValue) throw new ArgumentException($"a chunk of {bytes.Length} bytes does not fit a u16 length");
            output.WriteByte(tag);
            BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)bytes.Length);
            output.Write(length);
            output.Write(bytes);
        }
        return output.ToArray();
    }
}

/// <summary>A fresh directory for one input (on tmpfs when there is one: a target fsyncs), deleted afterwards.</summary>
public sealed class ScratchDirectory : IDisposable
{
    private static readonly string Root = Directory.Exists("/dev/shm") ? "/dev/shm" : System.IO.Path.GetTempPath();

    public ScratchDirectory() =>
        Path = Directory.CreateDirectory(System.IO.Path.Combine(Root, $"raft-fuzz-{Environment.ProcessId}-{Guid.NewGuid():N}")).FullName;

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { /* a leftover scratch directory is harmless; the next input uses a new one */ }
    }
}
