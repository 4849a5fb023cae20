// Crash-test child: appends records (several concurrent appenders through group commit) and saves hard state in a
// loop, and prints each fact as soon as it is durable, so the parent can kill it with SIGKILL at any moment and check
// that everything reported is still there after recovery.
//
// Usage: Raft.CrashWorker <directory> <seed>
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
object outputLock = new();
void Say(string line) { lock (outputLock) { output.Write(line); output.Write(";\n"); output.Flush(); } }

Say("O");
var log = FileLogStorage.Open(dir, CrashWorkload.Options);
var hard = new FileHardStateStore(dir);
long counter = hard.Load() is { } h ? CrashWorkload.DecodeHardState(h) : 0;
Say($"R {log.LastIndex}");
using var group = new GroupCommitLog(log, mark => Say($"D {mark.LastIndex}"));
object appendLock = new();

var hardStateThread = new Thread(() =>
{
    while (true)
    {
        counter++;
        hard.Save(CrashWorkload.EncodeHardState(counter));
        Say($"H {counter}");
    }
}) { IsBackground = true };
hardStateThread.Start();

async Task Appender(int id, int seed)
{
    var rnd = new Random(seed);
    while (true)
    {
        ValueTask<DurableMark> pending;
        lock (appendLock)
        {
            long next = log.LastIndex + 1;
            var batch = new LogRecord[rnd.Next(1, 4)];
            for (int i = 0; i < batch.Length; i++)
                batch[i] = new LogRecord(next + i, CrashWorkload.TermOf(next + i), CrashWorkload.Payload(next + i));
            pending = group.AppendAsync(batch);
        }
        var mark = await pending;
        if (id == 0 && mark.LastIndex - log.FirstIndex > 6000)
        {
            long upTo = mark.LastIndex - 3000;
            lock (appendLock) group.CompactPrefix(upTo, CrashWorkload.TermOf(upTo));
        }
    }
}

var appenders = new Task[4];
for (int i = 0; i < appenders.Length; i++)
{
    int id = i, seed = random.Next();
    appenders[i] = Task.Run(() => Appender(id, seed));
}
await Task.WhenAll(appenders);
return 0;

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
