using System.Buffers.Binary;
using Raft.Serialization;
using Raft.Storage;

namespace Raft.Fuzz.Targets;

/// <summary>The hard-state file: the input's bytes as <c>hardstate</c> (with a leftover <c>hardstate.tmp</c> when the
/// second chunk is there), loaded by <see cref="FileHardStateStore"/> and decoded as the host decodes it
/// (<see cref="RaftStateCodec.DecodeHardState"/>). Input: chunks (file, leftover temp file).</summary>
internal static class HardStateTarget
{
    private const int HeaderSize = 16;

    public static readonly FuzzTarget Target = new(
        "hardstate", "FileHardStateStore.Load + RaftStateCodec.DecodeHardState",
        Run, [typeof(StorageCorruptedException), typeof(RaftCodecException)], 4L << 20, Seeds);

    private static void Run(byte[] input)
    {
        var (flags, files) = Chunks.Read(input);
        if (files.Count == 0) return;
        using var dir = new ScratchDirectory();
        var bytes = files[0].Bytes;
        if ((flags & Chunks.FixChecksums) != 0 && bytes.Length >= HeaderSize)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)(bytes.Length - HeaderSize));
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12),
                Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, bytes.AsSpan(0, 12)), bytes.AsSpan(HeaderSize))));
        }
        File.WriteAllBytes(dir.File("hardstate"), bytes);
        if (files.Count > 1) File.WriteAllBytes(dir.File("hardstate.tmp"), files[1].Bytes);
        var store = new FileHardStateStore(dir.Path);
        if (store.Load() is not { } state) throw new FuzzViolation("an existing hard-state file loaded as none");
        if (File.Exists(dir.File("hardstate.tmp"))) throw new FuzzViolation("a leftover hardstate.tmp survived Load");
        RaftStateCodec.DecodeHardState(state);
    }

    private static IEnumerable<(string, byte[])> Seeds()
    {
        using var dir = new ScratchDirectory();
        var store = new FileHardStateStore(dir.Path);
        store.Save(RaftStateCodec.EncodeHardState(Samples.Hard));
        var file = File.ReadAllBytes(store.FilePath);
        yield return ("saved", Chunks.Write(0, [(0, file)]));
        yield return ("saved-with-leftover", Chunks.Write(0, [(0, file), (0, file[..20])]));
        yield return ("saved-fixup", Chunks.Write(Chunks.FixChecksums, [(0, file)]));
        store.Save([]);
        yield return ("empty-payload", Chunks.Write(0, [(0, File.ReadAllBytes(store.FilePath))]));
    }
}
