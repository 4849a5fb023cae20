using Raft.Core;

namespace Raft.Serialization;

/// <summary>A Raft message addressed to one group of a multi-raft node: what travels on the wire.</summary>
/// <param name="GroupId">The Raft group the message belongs to.</param>
/// <param name="Message">The core's message; null when the envelope carries a <see cref="Host"/> message instead.</param>
public readonly record struct RaftEnvelope<T>(long GroupId, Message<T> Message)
{
    /// <summary>A message between the node hosts (proposal forwarding), or null for a Raft message.</summary>
    public HostMessage<T>? Host { get; init; }

    /// <summary>An envelope carrying a host message for <paramref name="groupId"/>.</summary>
    public static RaftEnvelope<T> ForHost(long groupId, HostMessage<T> message) => new(groupId, null!) { Host = message };
}
