namespace Raft.Storage;

/// <summary>
/// A log that forwards every call to an inner log. Derive from it to observe or alter a few calls (timing flushes,
/// injecting an fsync failure) without restating the rest of <see cref="ILogStorage"/>.
/// </summary>
/// <param name="inner">The log every call goes to.</param>
public abstract class DelegatingLogStorage(ILogStorage inner) : ILogStorage
{
    /// <summary>The log every call goes to.</summary>
    protected ILogStorage Inner { get; } = inner;

    /// <inheritdoc/>
    public virtual long FirstIndex => Inner.FirstIndex;

    /// <inheritdoc/>
    public virtual long LastIndex => Inner.LastIndex;

    /// <inheritdoc/>
    public virtual long TermAt(long index) => Inner.TermAt(index);

    /// <inheritdoc/>
    public virtual void Append(ReadOnlySpan<LogRecord> records) => Inner.Append(records);

    /// <inheritdoc/>
    public virtual IReadOnlyList<LogRecord> ReadRange(long from, long toInclusive, long maxBytes = long.MaxValue) =>
        Inner.ReadRange(from, toInclusive, maxBytes);

    /// <inheritdoc/>
    public virtual void TruncateSuffix(long fromIndex) => Inner.TruncateSuffix(fromIndex);

    /// <inheritdoc/>
    public virtual void CompactPrefix(long upToInclusive, long termAtThatIndex) => Inner.CompactPrefix(upToInclusive, termAtThatIndex);

    /// <inheritdoc/>
    public virtual void Flush() => Inner.Flush();

    /// <inheritdoc/>
    public virtual ValueTask FlushAsync(CancellationToken cancellationToken = default) => Inner.FlushAsync(cancellationToken);

    /// <inheritdoc/>
    public virtual void Dispose() => Inner.Dispose();
}
