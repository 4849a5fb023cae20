using MessagePack;
using Raft.Core;

namespace Raft.Serialization;

/// <summary>Formatters for the core's non-generic records: membership, configuration state, snapshot meta, hard state.</summary>
internal static class CoreFormatters
{
    // Membership = [voters[], outgoing[], learners[], learnersNext[], autoLeave]
    public static void WriteMembership(ref MessagePackWriter writer, Membership m)
    {
        writer.WriteArrayHeader(5);
        Records.WriteSet(ref writer, m.Voters);
        Records.WriteSet(ref writer, m.Outgoing);
        Records.WriteSet(ref writer, m.Learners);
        Records.WriteSet(ref writer, m.LearnersNext);
        writer.Write(m.AutoLeave);
    }

    public static Membership ReadMembership(ref MessagePackReader reader)
    {
        var n = Records.ReadHeader(ref reader, 5, "Membership");
        var voters = Records.ReadSet(ref reader, "Membership.Voters");
        var outgoing = Records.ReadSet(ref reader, "Membership.Outgoing");
        var learners = Records.ReadSet(ref reader, "Membership.Learners");
        var learnersNext = Records.ReadSet(ref reader, "Membership.LearnersNext");
        var autoLeave = reader.ReadBoolean();
        Records.SkipRest(ref reader, n, 5);
        return new Membership(voters, outgoing, learners, learnersNext, autoLeave);
    }

    // ConfigState = [current, currentIndex, previous, previousIndex]
    public static void WriteConfigState(ref MessagePackWriter writer, ConfigState c)
    {
        writer.WriteArrayHeader(4);
        WriteMembership(ref writer, c.Current);
        writer.Write(c.CurrentIndex);
        WriteMembership(ref writer, c.Previous);
        writer.Write(c.PreviousIndex);
    }

    public static ConfigState ReadConfigState(ref MessagePackReader reader)
    {
        var n = Records.ReadHeader(ref reader, 3, "ConfigState");
        var current = ReadMembership(ref reader);
        var currentIndex = reader.ReadInt64();
        var previous = ReadMembership(ref reader);
        var previousIndex = n > 3 ? reader.ReadInt64() : 0L;
        Records.SkipRest(ref reader, n, 4);
        return new ConfigState(current, currentIndex, previous, previousIndex);
    }

    // SnapshotMeta = [index, term, config]
    public static void WriteSnapshotMeta(ref MessagePackWriter writer, SnapshotMeta s)
    {
        writer.WriteArrayHeader(3);
        writer.Write(s.Index);
        writer.Write(s.Term);
        WriteConfigState(ref writer, s.Config);
    }

    public static SnapshotMeta ReadSnapshotMeta(ref MessagePackReader reader)
    {
        var n = Records.ReadHeader(ref reader, 3, "SnapshotMeta");
        var index = reader.ReadInt64();
        var term = reader.ReadInt64();
        var config = ReadConfigState(ref reader);
        Records.SkipRest(ref reader, n, 3);
        return new SnapshotMeta(index, term, config);
    }

    // HardState = [term, vote, commit, config]
    public static void WriteHardState(ref MessagePackWriter writer, HardState h)
    {
        writer.WriteArrayHeader(4);
        writer.Write(h.Term);
        writer.Write(h.Vote);
        writer.Write(h.Commit);
        WriteConfigState(ref writer, h.Config);
    }

    public static HardState ReadHardState(ref MessagePackReader reader)
    {
        var n = Records.ReadHeader(ref reader, 4, "HardState");
        var term = reader.ReadInt64();
        var vote = reader.ReadInt64();
        var commit = reader.ReadInt64();
        var config = ReadConfigState(ref reader);
        Records.SkipRest(ref reader, n, 4);
        return new HardState(term, vote, commit, config);
    }
}
