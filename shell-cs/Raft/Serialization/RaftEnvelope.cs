using Raft.Core;

namespace Raft.Serialization;

/// <summary>A Raft message addressed to one group of a multi-raft node: what travels on the wire.</summary>
/// <param name="GroupId">The Raft group the message belongs to.</param>
/// <param name="Message">The core's message.</param>
public readonly record struct RaftEnvelope<T>(long GroupId, Message<T> Message);
