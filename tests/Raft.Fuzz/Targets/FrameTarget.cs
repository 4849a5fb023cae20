using System.Buffers;
using System.Buffers.Binary;
using Raft.Serialization;
using Raft.Storage;
using Raft.Transport.Tcp;

namespace Raft.Fuzz.Targets;

/// <summary>The TCP frame reader: bytes as they arrive on a connection after the handshake, split into two buffer
/// segments, taken frame by frame (<see cref="TcpFrame.TryRead"/>) and each data payload decoded as the transport
/// does (<see cref="RaftBatchCodec{T}"/>). Input: <c>flags u8 | split u8 | stream</c>.</summary>
internal static class FrameTarget
{
    /// <summary>The frame cap of this target (the transport's default is 16 MiB; a small cap keeps inputs that reach it small).</summary>
    public const int MaxPayload = 64 * 1024;

    private static readonly RaftBatchCodec<int> Codec = new(new RaftMessageCodec<int>());

    public static readonly FuzzTarget Target = new(
        "frame", "TcpFrame.TryRead + RaftBatchCodec.Decode over a two-segment stream",
        Run, [typeof(RaftCodecException)], 8L << 20, Seeds);

    private static void Run(byte[] input)
    {
        if (input.Length < 2) return;
        var stream = input[2..];
        if ((input[0] & Chunks.FixChecksums) != 0) FixCrcs(stream);
        var buffer = Segments.Split(stream, input[1] % (stream.Length + 1));
        while (true)
        {
            long before = buffer.Length;
            if (!TcpFrame.TryRead(ref buffer, MaxPayload, out var kind, out var payload, out var error))
            {
                if (buffer.Length != before) throw new FuzzViolation("a refused frame consumed bytes");
                if (error == FrameError.None && buffer.Length >= TcpFrame.HeaderSize)
                {
                    uint claimed = BinaryPrimitives.ReadUInt32LittleEndian(Header(buffer)[6..]);
                    if (claimed > MaxPayload) throw new FuzzViolation($"a {claimed}-byte frame over the {MaxPayload}-byte cap waits for more bytes instead of being refused");
                }
                return;
            }
            if (payload.Length > MaxPayload) throw new FuzzViolation($"a {payload.Length}-byte payload passed a {MaxPayload}-byte cap");
            if (before - buffer.Length != TcpFrame.HeaderSize + payload.Length) throw new FuzzViolation("a frame consumed the wrong number of bytes");
            if (kind != FrameKind.Data) return; // the reader closes the connection here
            Codec.Decode(payload);
        }
    }

    private static byte[] Header(ReadOnlySequence<byte> buffer) => buffer.Slice(0, TcpFrame.HeaderSize).ToArray();

    /// <summary>Rewrites each frame's CRC over the payload it declares (as far as the stream holds it).</summary>
    internal static void FixCrcs(byte[] stream)
    {
        for (int at = 0; at + TcpFrame.HeaderSize <= stream.Length;)
        {
            long length = Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(stream.AsSpan(at + 6)), stream.Length - at - TcpFrame.HeaderSize);
            BinaryPrimitives.WriteUInt32LittleEndian(stream.AsSpan(at + 10), Crc32C.Compute(stream.AsSpan(at + TcpFrame.HeaderSize, (int)length)));
            at += TcpFrame.HeaderSize + (int)length;
        }
    }

    private static IEnumerable<(string, byte[])> Seeds()
    {
        using var output = new PooledBufferWriter(1024);
        foreach (var (name, batch) in Samples.Batches())
        {
            output.ResetTo(0);
            var start = TcpFrame.Begin(output);
            Codec.Encode(batch, output);
            TcpFrame.Complete(output, start, FrameKind.Data);
            var frame = output.WrittenSpan.ToArray();
            yield return ($"{name}", [0, 7, .. frame]);
            yield return ($"{name}-twice", [0, (byte)(frame.Length + 3), .. frame, .. frame]);
        }
        yield return ("empty", [0, 0]);
    }
}

/// <summary>A byte array as a <see cref="ReadOnlySequence{T}"/> of two segments, as a pipe hands over data that
/// arrived in two reads.</summary>
internal static class Segments
{
    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    public static ReadOnlySequence<byte> Split(byte[] bytes, int at)
    {
        var first = new Segment(bytes.AsMemory(0, at), 0);
        var last = first.Append(bytes.AsMemory(at));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
