namespace Raft.Storage;

/// <summary>One log entry as the storage layer sees it: index, term and the host-encoded payload bytes.</summary>
/// <param name="Index">The entry's position in the log (1-based).</param>
/// <param name="Term">The term in which the entry was created.</param>
/// <param name="Payload">The encoded entry; storage copies it before <c>Append</c> returns.</param>
public readonly record struct LogRecord(long Index, long Term, ReadOnlyMemory<byte> Payload);
