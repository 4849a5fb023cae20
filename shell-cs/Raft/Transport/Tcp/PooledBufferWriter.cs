using System.Buffers;

namespace Raft.Transport.Tcp;

/// <summary>
/// A growable <see cref="IBufferWriter{T}"/> over <see cref="ArrayPool{T}.Shared"/>, reused across socket writes
/// so that batching frames costs no allocation in the steady state.
/// </summary>
internal sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    private readonly int _initialSize;
    private byte[] _buffer;
    private int _written;

    public PooledBufferWriter(int initialSize = 64 * 1024)
    {
        _initialSize = initialSize;
        _buffer = ArrayPool<byte>.Shared.Rent(initialSize);
    }

    public int WrittenCount => _written;
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);
    public Span<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    public void Advance(int count)
    {
        if (count < 0 || _written + count > _buffer.Length) throw new ArgumentOutOfRangeException(nameof(count));
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0) { Ensure(sizeHint); return _buffer.AsMemory(_written); }

    public Span<byte> GetSpan(int sizeHint = 0) { Ensure(sizeHint); return _buffer.AsSpan(_written); }

    /// <summary>Forgets everything written after <paramref name="position"/> (used to discard an unencodable frame).</summary>
    public void ResetTo(int position) => _written = position;

    /// <summary>Empties the writer; a buffer grown far beyond its initial size (a snapshot chunk) goes back to the pool.</summary>
    public void Clear()
    {
        _written = 0;
        if (_buffer.Length > 4 * _initialSize)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(_initialSize);
        }
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
        _written = 0;
    }

    private void Ensure(int sizeHint)
    {
        sizeHint = Math.Max(sizeHint, 256);
        if (_buffer.Length - _written >= sizeHint) return;
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _written + sizeHint));
        _buffer.AsSpan(0, _written).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }
}
