namespace Raft.Storage;

/// <summary>One log entry as the storage layer sees it: index, term and the host-encoded payload bytes.</summary>
/// <param name="Index">The entry's position in the log (1-based).</param>
/// <param name="Term">The term in which the entry was created.</param>
/// <param name="Payload">The encoded entry; storage copies it before <c>Append</c> returns.</param>
public readonly record struct LogRecord(long Index, long Term, ReadOnlyMemory<byte> Payload);

/// <summary>A durability tag: everything up to <see cref="LastIndex"/> (whose term was <see cref="LastTerm"/> when it was
/// appended) is on disk. After a conflict rewrite an older tag may name entries that were since replaced; compare the
/// term with the log's current term at that index before acting on it.</summary>
public readonly record struct DurableMark(long LastIndex, long LastTerm);
