using System.Buffers.Binary;
using Raft.Storage;

/// <summary>The shared-log workload: many groups in one <see cref="SharedLog"/> with small files (so rotation and file
/// deletion happen every few seconds), written in rounds as the node host's group commit writes them: each round
/// appends to a few groups, stages each one's hard state after its entries, commits once, and only then reports.
/// Groups compact as they grow, which lets old files go, except the first <see cref="Hoarders"/>: they never compact,
/// so the log relocates their entries to delete old files.</summary>
/// <remarks>Output lines: <c>D &lt;group&gt; &lt;index&gt;;</c> (the group's log is durable up to index),
/// <c>H &lt;group&gt; &lt;counter&gt;;</c> (the group's hard state counter is durable), <c>M &lt;count&gt;</c> (entries
/// relocated so far by this process).</remarks>
internal static class SharedWorkload
{
    public const int Groups = 40;

    /// <summary>Groups 1 to this never compact.</summary>
    public const int Hoarders = 4;

    public static readonly SharedLogOptions Options = new() { FileSize = 64 << 10, ZeroAheadBytes = 16 << 10 };

    public static void Run(string dir, Random random, Action<string> say)
    {
        say("O");
        var log = SharedLog.Open(dir, Options);
        var counters = new long[Groups + 1];
        for (int g = 1; g <= Groups; g++)
            if (log.Contains(g) && log.HardState(g).Load() is { } h) counters[g] = CrashWorkload.DecodeHardState(h);
        say("R 0");
        var touched = new List<int>();
        while (true)
        {
            touched.Clear();
            for (int k = random.Next(1, 6); k > 0; k--)
            {
                int g = random.Next(1, Groups + 1);
                if (touched.Contains(g)) continue;
                touched.Add(g);
                var view = log.Group(g);
                var records = new LogRecord[random.Next(1, 4)];
                for (int i = 0; i < records.Length; i++)
                {
                    long next = view.LastIndex + 1 + i;
                    records[i] = new LogRecord(next, CrashWorkload.TermOf(next), CrashWorkload.Payload(next));
                }
                view.Append(records);
                log.HardState(g).Stage(CrashWorkload.EncodeHardState(++counters[g]));
            }
            long relocated = log.EntriesRelocated;
            log.Commit();
            if (log.EntriesRelocated != relocated) say($"M {log.EntriesRelocated}");
            foreach (int g in touched)
            {
                var view = log.Group(g);
                say($"D {g} {view.LastIndex}");
                say($"H {g} {counters[g]}");
                if (g > Hoarders && view.LastIndex - view.FirstIndex > 200)
                {
                    long upTo = view.LastIndex - 100;
                    view.CompactPrefix(upTo, CrashWorkload.TermOf(upTo));
                }
            }
        }
    }
}
