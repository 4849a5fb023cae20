// Crash-test child: writes the way the node host's group commit does, and prints each fact as soon as it is durable,
// so the parent can kill it with SIGKILL at any moment and check that everything reported is still there after
// recovery. Several appenders hand batches to one loop; each round the loop appends every batch queued so far, flushes
// the log once, then saves the hard state (the log first, as the host's GroupCommit does), reports, and only then
// answers the appenders, whose next batches form the next round.
//
// Usage: Raft.CrashWorker <directory> <seed> [shared]   (shared: many groups in one SharedLog, see SharedWorkload.cs)
// Output lines (each ends with ';' so a line cut by the kill is recognisable):
//   O;            about to open the storage (recovery runs next)
//   R <last>;     opened, log ends at <last>
//   D <index>;    every index up to <index> is durable
//   H <counter>;  hard state <counter> is durable
using System.Buffers.Binary;
using Raft.Storage;

if (args.Length < 2) { Console.Error.WriteLine("usage: Raft.CrashWorker <directory> <seed>"); return 2; }
string dir = args[0];
var random = new Random(int.Parse(args[1]));
var output = Console.Out;
void Say(string line) { output.Write(line); output.Write(";\n"); output.Flush(); }

if (args.Length > 2 && args[2] == "shared")
{
    SharedWorkload.Run(dir, random, Say);
    return 0;
}

Say("O");
var log = FileLogStorage.Open(dir, CrashWorkload.Options);
var hard = new FileHardStateStore(dir);
long counter = hard.Load() is { } h ? CrashWorkload.DecodeHardState(h) : 0;
Say($"R {log.LastIndex}");

// What the appenders hand to the loop: how many records each wants, and what to complete once they are durable.
var queue = new System.Collections.Concurrent.BlockingCollection<(int Count, TaskCompletionSource Done)>();

async Task Appender(int seed)
{
    var rnd = new Random(seed);
    while (true)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        queue.Add((rnd.Next(1, 4), done));
        await done.Task;
    }
}

for (int i = 0; i < 4; i++)
{
    int seed = random.Next();
    _ = Task.Run(() => Appender(seed));
}

var round = new List<TaskCompletionSource>();
var records = new List<LogRecord>();
while (true)
{
    var first = queue.Take();
    records.Clear();
    round.Clear();
    for (var item = first; ; )
    {
        for (int i = 0; i < item.Count; i++)
        {
            long next = log.LastIndex + 1 + records.Count;
            records.Add(new LogRecord(next, CrashWorkload.TermOf(next), CrashWorkload.Payload(next)));
        }
        round.Add(item.Done);
        if (!queue.TryTake(out item)) break;
    }
    log.Append(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(records));
    log.Flush();
    Say($"D {log.LastIndex}");
    counter++;
    hard.Save(CrashWorkload.EncodeHardState(counter));
    Say($"H {counter}");
    if (log.LastIndex - log.FirstIndex > 6000)
    {
        long upTo = log.LastIndex - 3000;
        log.CompactPrefix(upTo, CrashWorkload.TermOf(upTo));
    }
    foreach (var done in round) done.SetResult();
}

/// <summary>The deterministic content the parent checks: terms, payloads and hard state derived from the index or
/// counter alone (the test project has the same formulas).</summary>
internal static class CrashWorkload
{
    public static readonly FileLogOptions Options = new() { SegmentSize = 64 << 10, IndexInterval = 1024, CreateIfMissing = true };

    public static long TermOf(long index) => 1 + index / 2000;

    public static byte[] Payload(long index)
    {
        var p = new byte[16 + (int)((index * 2654435761L) % 200 + 200) % 200];
        BinaryPrimitives.WriteInt64LittleEndian(p, index);
        BinaryPrimitives.WriteInt64LittleEndian(p.AsSpan(8), TermOf(index));
        for (int k = 16; k < p.Length; k++) p[k] = (byte)(index * 31 + k);
        return p;
    }

    public static byte[] EncodeHardState(long counter)
    {
        var b = new byte[512];
        for (int k = 0; k < b.Length; k += 8) BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(k), counter);
        return b;
    }

    public static long DecodeHardState(byte[] b) => BinaryPrimitives.ReadInt64LittleEndian(b);
}
