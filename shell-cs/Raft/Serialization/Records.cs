using System.Buffers;
using MessagePack;
using Microsoft.FSharp.Collections;

namespace Raft.Serialization;

/// <summary>
/// Reading helpers shared by the formatters. They turn "structurally wrong" into <see cref="RaftCodecException"/>
/// early and keep hostile counts from allocating large arrays before the bytes are there.
/// </summary>
internal static class Records
{
    /// <summary>Writes one body of a versioned record.</summary>
    public delegate void BodyWriter<in TValue>(ref MessagePackWriter writer, TValue value);

    /// <summary>Reads one body of a versioned record.</summary>
    public delegate TValue BodyReader<out TValue>(ref MessagePackReader reader);

    /// <summary>Writes the top-level record shape every encoding here shares: <c>[version, body]</c>.</summary>
    public static void WriteVersioned<TValue>(IBufferWriter<byte> output, TValue value, BodyWriter<TValue> body)
    {
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(2);
        writer.Write(WireFormat.Version);
        body(ref writer, value);
        writer.Flush();
    }

    /// <summary>Reads <c>[version, body]</c>, skipping fields a newer writer appended and refusing trailing bytes;
    /// every failure becomes a <see cref="RaftCodecException"/> naming <paramref name="what"/>.</summary>
    public static TValue ReadVersioned<TValue>(ReadOnlySequence<byte> bytes, string what, BodyReader<TValue> body)
    {
        try
        {
            var reader = new MessagePackReader(bytes);
            var n = ReadHeader(ref reader, 2, what);
            ReadVersion(ref reader, what);
            var value = body(ref reader);
            SkipRest(ref reader, n, 2);
            ExpectEnd(ref reader, what);
            return value;
        }
        catch (Exception ex) { throw Wrap(ex, what); }
    }

    /// <summary>Runs <paramref name="write"/> into a fresh buffer and returns the bytes.</summary>
    public static byte[] Encode<TValue>(TValue value, Action<IBufferWriter<byte>, TValue> write, int initialCapacity)
    {
        var buffer = new ArrayBufferWriter<byte>(initialCapacity);
        write(buffer, value);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Reads a record's array header; it must hold at least <paramref name="known"/> fields.</summary>
    public static int ReadHeader(ref MessagePackReader reader, int known, string what)
    {
        var count = reader.ReadArrayHeader();
        if (count < known)
            throw new RaftCodecException(RaftCodecError.Malformed, $"{what} has {count} fields, expected at least {known}");
        return count;
    }

    /// <summary>Skips the fields a newer writer appended after the ones this version knows.</summary>
    public static void SkipRest(ref MessagePackReader reader, int count, int known)
    {
        for (var i = known; i < count; i++) reader.Skip();
    }

    /// <summary>Reads an array header whose elements each take at least one byte, so the count is bounded by the input.</summary>
    public static int ReadCount(ref MessagePackReader reader, string what)
    {
        var count = reader.ReadArrayHeader();
        if (count > reader.Sequence.Length - reader.Consumed)
            throw new RaftCodecException(RaftCodecError.Truncated, $"{what} claims {count} elements, more than the remaining bytes");
        return count;
    }

    /// <summary>Reads the leading format version of a top-level encoding.</summary>
    public static void ReadVersion(ref MessagePackReader reader, string what)
    {
        var version = reader.ReadInt32();
        if (version < 1 || version > WireFormat.Version)
            throw new RaftCodecException(RaftCodecError.UnsupportedVersion, $"{what} version {version}; this build reads 1..{WireFormat.Version}");
    }

    public static void WriteSet(ref MessagePackWriter writer, FSharpSet<long> set)
    {
        writer.WriteArrayHeader(set.Count);
        foreach (var id in set) writer.Write(id);
    }

    public static FSharpSet<long> ReadSet(ref MessagePackReader reader, string what)
    {
        var count = ReadCount(ref reader, what);
        if (count == 0) return SetModule.Empty<long>();
        var ids = new long[count];
        for (var i = 0; i < count; i++) ids[i] = reader.ReadInt64();
        return new FSharpSet<long>(ids);
    }

    public static byte[] ReadBytes(ref MessagePackReader reader, string what)
    {
        var bytes = reader.ReadBytes();
        return bytes is { } seq ? seq.ToArray() : throw new RaftCodecException(RaftCodecError.Malformed, $"{what} is nil");
    }

    /// <summary>
    /// Runs a decoder and maps every failure to <see cref="RaftCodecException"/>: MessagePack reports truncation as
    /// <see cref="EndOfStreamException"/> and type mismatches as <see cref="MessagePackSerializationException"/>;
    /// callers must see one exception type for "bad bytes".
    /// </summary>
    public static RaftCodecException Wrap(Exception ex, string what) => ex switch
    {
        RaftCodecException rce => rce,
        EndOfStreamException => new RaftCodecException(RaftCodecError.Truncated, $"{what} ends early", ex),
        _ => new RaftCodecException(RaftCodecError.Malformed, $"{what}: {ex.Message}", ex),
    };

    /// <summary>Throws when a top-level decode left bytes behind (two values glued together is corruption).</summary>
    public static void ExpectEnd(ref MessagePackReader reader, string what)
    {
        if (!reader.End)
            throw new RaftCodecException(RaftCodecError.Malformed, $"{what} has {reader.Sequence.Length - reader.Consumed} trailing bytes");
    }
}
