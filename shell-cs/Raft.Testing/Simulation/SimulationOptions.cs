using System.Globalization;
using Raft.Simulation;

namespace Raft.Testing;

/// <summary>
/// How many seeds to simulate and under what faults: the knobs of <c>scripts/simulate.sh</c>. The common ones are
/// properties; <see cref="Arguments"/> takes any further simulator flag (<c>"--crash 0.02 --reconfig 0.04 --spares 2"</c>),
/// and <see cref="Parse"/> reads a whole simulator command line, such as the replay arguments of a violation.
/// </summary>
public sealed class SimulationOptions
{
    /// <summary>Voters in the simulated cluster.</summary>
    public int Nodes { get; init; } = 3;

    /// <summary>Seeds to run.</summary>
    public int Seeds { get; init; } = 100;

    /// <summary>The first seed; seeds run from here consecutively.</summary>
    public ulong FirstSeed { get; init; } = 1;

    /// <summary>Simulator events per seed (each tick, delivery, disk completion, ... is one).</summary>
    public int Steps { get; init; } = 5_000;

    /// <summary>Every fault (drops, duplicates, reordering, partitions, crashes with torn writes, leader churn) at the
    /// simulator's default rates; false turns them all off.</summary>
    public bool Faults { get; init; } = true;

    /// <summary>Per tick: chance that a client reads (used when the spec has reads).</summary>
    public double ReadRate { get; init; } = 0.5;

    /// <summary>Applied entries between snapshots (0: never), so <c>Snapshot</c> and <c>Restore</c> run.</summary>
    public long SnapshotEntries { get; init; } = 40;

    /// <summary>Further simulator flags, applied after the properties (they win): anything
    /// <c>scripts/simulate.sh --help</c> lists.</summary>
    public string Arguments { get; init; } = "";

    /// <summary>Run seeds on every core (each seed's run is identical either way; the state machine factory and
    /// the generators are then called from several threads, one seed per thread).</summary>
    public bool Parallel { get; init; } = true;

    /// <summary>Stop at the first seed with a violation.</summary>
    public bool StopAtFirstViolation { get; init; }

    /// <summary>The state machines' snapshots are compared every this many indexes (nodes at the same applied index
    /// must have equal snapshot bytes); 1 compares at every index. Unused with a fingerprint.</summary>
    public int DeterminismInterval { get; init; } = 16;

    private bool _fromSimulatorDefaults;

    /// <summary>Options from a simulator command line on the simulator's own defaults (5 nodes, 20,000 steps, no
    /// reads, no snapshots unless the line says so), e.g. <see cref="SeedViolation.ReplayArguments"/>.</summary>
    public static SimulationOptions Parse(string arguments)
    {
        var d = SimOptionsModule.defaults;
        return new SimulationOptions
        {
            Nodes = d.Nodes, Steps = d.Steps, ReadRate = d.ReadRate, SnapshotEntries = d.SnapshotEntries, Seeds = 1,
            Arguments = arguments, _fromSimulatorDefaults = true,
        }.Validate();
    }

    /// <summary>The simulator command line these options stand for.</summary>
    public string ToArguments() => string.Join(' ', CommandLine());

    /// <summary>Checks the options now; the error names the first bad one.</summary>
    /// <exception cref="ArgumentException">An option is out of range or a flag is unknown.</exception>
    public SimulationOptions Validate()
    {
        _ = Request();
        if (DeterminismInterval < 1) throw new ArgumentException("DeterminismInterval must be at least 1", nameof(DeterminismInterval));
        return this;
    }

    internal RunRequest Request()
    {
        var parsed = Args.parse(ToArguments().Split(' ', StringSplitOptions.RemoveEmptyEntries));
        if (parsed.IsError) throw new ArgumentException($"bad simulation options ({ToArguments()}): {parsed.ErrorValue}");
        return parsed.ResultValue;
    }

    private IEnumerable<string> CommandLine()
    {
        var inv = CultureInfo.InvariantCulture;
        if (!_fromSimulatorDefaults)
        {
            yield return $"--nodes {Nodes.ToString(inv)}";
            yield return $"--steps {Steps.ToString(inv)}";
            yield return $"--seeds {Seeds.ToString(inv)}";
            yield return $"--first-seed {FirstSeed.ToString(inv)}";
            yield return $"--reads {ReadRate.ToString("R", inv)}";
            yield return $"--snapshot-entries {SnapshotEntries.ToString(inv)}";
            if (!Faults) yield return "--no-faults";
        }
        if (!string.IsNullOrWhiteSpace(Arguments)) yield return Arguments.Trim();
    }
}
