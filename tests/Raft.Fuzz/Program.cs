using Raft.Fuzz;

// Raft.Fuzz TARGET               one input from stdin (or, under afl-fuzz, every input afl-fuzz sends)
// Raft.Fuzz TARGET FILE...       each file once, printing its outcome
// Raft.Fuzz --seeds DIR          writes every target's seed corpus to DIR/TARGET/
if (Environment.GetEnvironmentVariable("__AFL_SHM_ID") is not null && args is [var aflTarget])
{
    // Under afl-fuzz the instrumented Raft.dll writes coverage into shared memory that Run maps: no library code
    // (not even the targets' static fields) may run before it.
    SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
    {
        var fuzzed = FuzzTargets.Find(aflTarget) ?? throw new ArgumentException($"no fuzz target '{aflTarget}'");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        Check.Run(fuzzed, buffer.ToArray());
    });
    return 0;
}
if (args is ["--seeds", var dir])
{
    foreach (var t in FuzzTargets.All)
    {
        var into = Directory.CreateDirectory(Path.Combine(dir, t.Name)).FullName;
        int n = 0;
        foreach (var (name, bytes) in t.Seeds())
        {
            File.WriteAllBytes(Path.Combine(into, name), bytes);
            Console.WriteLine($"{t.Name}/{name}: {Check.Run(t, bytes)}");
            n++;
        }
        Console.WriteLine($"{t.Name}: {n} seeds");
    }
    return 0;
}
if (args.Length < 1 || FuzzTargets.Find(args[0]) is not { } target)
{
    Console.Error.WriteLine("usage: Raft.Fuzz TARGET [FILE...] | --seeds DIR");
    foreach (var t in FuzzTargets.All) Console.Error.WriteLine($"  {t.Name,-10} {t.Feeds}");
    return 2;
}
if (args.Length > 1)
{
    foreach (var file in args[1..]) Console.WriteLine($"{file}: {Check.Run(target, File.ReadAllBytes(file))}");
    return 0;
}
{
    using var stdin = Console.OpenStandardInput();
    using var buffer = new MemoryStream();
    stdin.CopyTo(buffer);
    Console.WriteLine(Check.Run(target, buffer.ToArray()));
    return 0;
}
