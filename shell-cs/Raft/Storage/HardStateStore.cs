using System.Buffers.Binary;

namespace Raft.Storage;

/// <summary>Stores the node's hard state (term, vote, configuration — encoded by the host) so that a save is atomic:
/// after a crash <see cref="Load"/> returns the previous or the new bytes, never a mix.</summary>
public interface IHardStateStore
{
    /// <summary>The last saved bytes, or null if nothing was ever saved.</summary>
    /// <exception cref="StorageCorruptedException">The file fails its checksum.</exception>
    byte[]? Load();

    /// <summary>Replaces the stored bytes durably before returning.</summary>
    void Save(ReadOnlySpan<byte> state);
}

/// <summary>An <see cref="IHardStateStore"/> in memory, for tests and the simulator.</summary>
public sealed class MemoryHardStateStore : IHardStateStore
{
    private byte[]? _state;

    /// <summary>How many times <see cref="Save"/> was called.</summary>
    public int SaveCount { get; private set; }

    public byte[]? Load() => (byte[]?)Volatile.Read(ref _state)?.Clone();

    public void Save(ReadOnlySpan<byte> state)
    {
        Volatile.Write(ref _state, state.ToArray());
        SaveCount++;
    }
}

/// <summary>
/// The hard state in one file (default name <c>hardstate</c>), replaced atomically: the new content is written to
/// <c>hardstate.tmp</c>, fdatasynced, renamed over the old file, and the directory is fsynced.
/// Layout (little-endian): <c>magic "RHST" u32 | version u16 | flags u16 | length u32 | crc32c u32 | payload</c>,
/// the CRC covering the first 12 bytes and the payload.
/// </summary>
public sealed class FileHardStateStore : IHardStateStore
{
    private const uint Magic = 0x54534852; // "RHST"
    private const ushort Version = 1;
    private const int HeaderSize = 16;
    private readonly object _gate = new();
    private readonly string _directory;
    private readonly string _fileName;

    /// <param name="directory">An existing directory (normally the log's).</param>
    /// <param name="fileName">The file's name in it.</param>
    public FileHardStateStore(string directory, string fileName = "hardstate")
    {
        _directory = Path.GetFullPath(directory);
        _fileName = fileName;
        if (!Directory.Exists(_directory))
            throw new StorageException($"The hard state directory '{_directory}' does not exist. Create it for a new node; " +
                                       "for an existing node check that its volume is mounted (a node that forgets its vote can vote twice).", _directory);
    }

    /// <summary>Full path of the file.</summary>
    public string FilePath => Path.Combine(_directory, _fileName);

    public byte[]? Load()
    {
        lock (_gate)
        {
            string path = FilePath;
            try
            {
                if (File.Exists(path + AtomicFile.TempSuffix)) File.Delete(path + AtomicFile.TempSuffix); // an interrupted save
                if (!File.Exists(path)) return null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "read", path); }
            byte[] bytes;
            try { bytes = File.ReadAllBytes(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "read", path); }
            return Decode(bytes, path);
        }
    }

    private static byte[] Decode(byte[] bytes, string path)
    {
        static StorageCorruptedException Bad(string path, long offset, string reason) =>
            new(path, offset, reason, StorageCorruptedException.HardStateAdvice);
        if (bytes.Length < HeaderSize) throw Bad(path, bytes.Length, $"hard state file is {bytes.Length} bytes, shorter than its {HeaderSize}-byte header");
        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic) throw Bad(path, 0, "hard state file has a wrong magic number");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(4));
        if (version != Version) throw Bad(path, 4, $"hard state file has unsupported format version {version}");
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        if (length != bytes.Length - HeaderSize) throw Bad(path, 8, $"hard state file says {length} payload bytes but holds {bytes.Length - HeaderSize}");
        uint crc = Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, bytes.AsSpan(0, 12)), bytes.AsSpan(HeaderSize)));
        if (crc != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12))) throw Bad(path, HeaderSize, "hard state checksum mismatch");
        return bytes.AsSpan(HeaderSize).ToArray();
    }

    public void Save(ReadOnlySpan<byte> state)
    {
        var bytes = new byte[HeaderSize + state.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(4), Version);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)state.Length);
        state.CopyTo(bytes.AsSpan(HeaderSize));
        uint crc = Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, bytes.AsSpan(0, 12)), state));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), crc);
        lock (_gate) AtomicFile.Write(_directory, _fileName, bytes);
    }
}
