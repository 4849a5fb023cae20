// The bank in the simulator: correct, it passes 200 seeds; with each planted bug, a seed fails, and replaying that
// seed fails the same way.
using MessagePack;
using Raft.Testing;
using static Checks;

public static class SimulationChecks
{
    static BankCommand NextCommand(SimulationRandom random) =>
        new(random.Next(Bank.Accounts), random.Chance(0.3) ? -random.Between(1, 20) : random.Between(1, 20));

    static SimulationSpec<BankCommand, long> Spec(BankBug bug = BankBug.None, bool readsBypassConsensus = false,
        MessagePackSerializerOptions? serializer = null) =>
        new SimulationSpec<BankCommand, long>(() => new Bank(bug), (random, _) => NextCommand(random))
            .WithSerializer(serializer ?? MessagePackSerializerOptions.Standard)
            .WithModel(new BankModel(), command => command, (command, balance) => balance,
                nextRead: random => new BankCommand(random.Next(Bank.Accounts), 0),
                read: (machine, query) => ((Bank)machine).Balance(query.Account),
                readsBypassConsensus);

    public static Task Passing() => Run("the bank passes 200 seeds", () =>
    {
        var result = Spec().Run(new SimulationOptions { Nodes = 3, Seeds = 200, Steps = 5_000 });
        Expect(result.Passed, "no violation, got " + result.Report);
        Expect(result.Seeds == 200 && result.Acknowledged > 10_000 && result.Operations > 20_000 && result.Faults > 0,
            "200 seeds with acknowledged writes, checked operations and faults: " + result.Summary);
        return Task.FromResult($"{result.Summary} in {result.Elapsed.TotalSeconds:F1} s");
    });

    public static Task Caught(string name, SimulationSpec<BankCommand, long> spec, string[] properties, string mentions) => Run(name, () =>
    {
        var result = spec.Run(new SimulationOptions { Nodes = 3, Seeds = 200, Steps = 5_000, StopAtFirstViolation = true });
        Expect(result.Violations.Count == 1, "a violation within 200 seeds: " + result.Summary);
        var v = result.Violations[0];
        Expect(properties.Contains(v.Property), $"a violation of {string.Join(" or ", properties)}, got {v.Report}");
        Expect(v.Report.Contains("replay: RaftSimulation.Replay(spec, \"--nodes 3 --seed " + v.Seed), "a replay call in " + v.Report);
        Expect(v.Report.Contains(mentions), $"\"{mentions}\" in {v.Report}");
        var replay = RaftSimulation.Replay(spec, v.ReplayArguments);
        Expect(replay.Violations.Count == 1 && replay.Violations[0].Property == v.Property && replay.Violations[0].Seed == v.Seed,
            "the replay fails the same way: " + replay.Report);
        return Task.FromResult(v.Report);
    });

    public static async Task All()
    {
        await Passing();
        await Caught("a non-deterministic apply (reads the clock) is caught with a replayable seed and the first index where nodes differ",
            Spec(BankBug.ClockInApply), ["state machine determinism"], "first index where two nodes' states differ: ");
        await Caught("a serializer that does not round-trip is caught with a replayable seed",
            Spec(serializer: LossyBankFormatter.Options), ["command serialization"], "comes back from its bytes");
        await Caught("a snapshot that drops a field is caught with a replayable seed",
            Spec(BankBug.SnapshotDropsLastAccount), ["linearizability", "state machine determinism", "snapshot/log agreement"], "seed");
        await Caught("a read that bypasses consensus is caught as a stale read with a replayable seed and its failing window",
            Spec(readsBypassConsensus: true), ["linearizability"], "Smallest failing window");
    }
}
