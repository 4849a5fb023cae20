namespace Raft.Serialization;

/// <summary>
/// Constants of the Raft MessagePack wire format. Every top-level encoding (a frame's envelope batch,
/// a stored entry, stored hard state) starts with <see cref="Version"/>; every record is a MessagePack
/// array whose known fields come first. A reader skips trailing fields it does not know, so a later
/// version may append fields without breaking older readers; removing or reordering fields needs a new
/// version number.
/// </summary>
public static class WireFormat
{
    /// <summary>The format version this build writes and the newest it reads.</summary>
    public const int Version = 1;

    /// <summary>Kind tags of <c>MessageBody</c> cases on the wire (stable; never renumber).</summary>
    internal static class Body
    {
        public const byte RequestVote = 1;
        public const byte RequestVoteResponse = 2;
        public const byte AppendEntries = 3;
        public const byte AppendEntriesResponse = 4;
        public const byte Heartbeat = 5;
        public const byte HeartbeatResponse = 6;
        public const byte InstallSnapshot = 7;
        public const byte InstallSnapshotResponse = 8;
        public const byte TimeoutNow = 9;
        public const byte ReadIndex = 10;
        public const byte ReadIndexReply = 11;
    }

    /// <summary>Kind tags of <c>Payload</c> cases on the wire (stable; never renumber).</summary>
    internal static class Payload
    {
        public const byte Noop = 0;
        public const byte Command = 1;
        public const byte Config = 2;
    }
}
