namespace Raft.Serialization;

/// <summary>Why bytes could not be decoded into a Raft value.</summary>
public enum RaftCodecError
{
    /// <summary>The input ended in the middle of a value.</summary>
    Truncated,
    /// <summary>The input names a format version this build does not read.</summary>
    UnsupportedVersion,
    /// <summary>A message, payload or flag kind this build does not know.</summary>
    UnknownKind,
    /// <summary>The bytes are not a well-formed encoding (wrong MessagePack types, bad counts, trailing bytes).</summary>
    Malformed,
    /// <summary>The user's payload <c>T</c> could not be decoded with the caller's MessagePack options.</summary>
    PayloadDecodeFailed,
    /// <summary>The user's payload <c>T</c> could not be encoded with the caller's MessagePack options.</summary>
    PayloadEncodeFailed,
}

/// <summary>
/// Raised when Raft bytes (a frame payload, a stored entry or hard state) cannot be decoded.
/// It is the only exception the codecs throw for bad input, so a transport can treat it as a bad frame
/// and a storage layer as corruption without ever crashing the node.
/// </summary>
public sealed class RaftCodecException : Exception
{
    /// <summary>Creates the exception with a reason and a human-readable detail.</summary>
    public RaftCodecException(RaftCodecError reason, string message, Exception? inner = null)
        : base($"{reason}: {message}", inner)
    {
        Reason = reason;
    }

    /// <summary>The category of the failure.</summary>
    public RaftCodecError Reason { get; }
}
