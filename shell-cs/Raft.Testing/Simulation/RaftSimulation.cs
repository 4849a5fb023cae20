using System.Diagnostics;
using Raft.Simulation;

namespace Raft.Testing;

/// <summary>
/// Runs the deterministic cluster simulator on your own state machine: whole Raft clusters of the real core under
/// message loss, reordering, partitions, crashes and torn writes, from one seed each, with the protocol's invariants
/// checked after every step, the nodes' states compared for determinism, and each seed's client history checked
/// against your model. A violation names the seed and the call that replays it.
/// </summary>
public static class RaftSimulation
{
    private const int Batch = 32;

    /// <summary>Runs the seeds of <paramref name="options"/> with <paramref name="spec"/>.</summary>
    /// <exception cref="ArgumentException">The options are invalid (the message names the first bad one).</exception>
    public static SimulationResult Run<TCommand, TResult>(SimulationSpec<TCommand, TResult> spec, SimulationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        options ??= new SimulationOptions();
        options.Validate();
        var request = options.Request();
        var watch = Stopwatch.StartNew();
        var violations = new List<SeedViolation>();
        long steps = 0, faults = 0, commits = 0, acknowledged = 0, operations = 0;
        var seeds = 0;
        for (var start = 0; start < request.Seeds; start += Batch)
        {
            var size = Math.Min(Batch, request.Seeds - start);
            var results = new SeedResult[size];
            void One(int i) => results[i] = RunSeed(spec, request.Options, request.FirstSeed + (ulong)(start + i), options.DeterminismInterval, false, false).Result;
            if (options.Parallel && request.Parallel) System.Threading.Tasks.Parallel.For(0, size, One);
            else for (var i = 0; i < size; i++) One(i);
            foreach (var r in results)
            {
                seeds++;
                steps += r.Stats.Steps;
                faults += r.Stats.Faults;
                commits += r.Stats.Commits;
                acknowledged += r.Stats.Acknowledged;
                operations += r.Stats.Operations;
                if (r.Failure is not null)
                {
                    violations.Add(Describe(spec, r, options.DeterminismInterval));
                    if (options.StopAtFirstViolation) break;
                }
            }
            if (options.StopAtFirstViolation && violations.Count > 0) break;
        }
        return new SimulationResult(seeds, steps, faults, commits, acknowledged, operations, violations, watch.Elapsed, []);
    }

    /// <summary>Replays one seed exactly, from the simulator command line of a violation
    /// (<see cref="SeedViolation.ReplayArguments"/>), with the notable events traced into <see cref="SimulationResult.Events"/>.</summary>
    /// <param name="spec">A spec built as the one that failed.</param>
    /// <param name="arguments">The simulator command line, e.g. <c>"--nodes 3 --seed 17 --steps 5000 --reads 0.5"</c>.</param>
    /// <param name="determinismInterval">As <see cref="SimulationOptions.DeterminismInterval"/> of the failing run.</param>
    public static SimulationResult Replay<TCommand, TResult>(SimulationSpec<TCommand, TResult> spec, string arguments, int determinismInterval = 16)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var options = SimulationOptions.Parse(arguments);
        var request = options.Request();
        var watch = Stopwatch.StartNew();
        var (r, _) = RunSeed(spec, request.Options, request.FirstSeed, determinismInterval, false, true);
        var s = r.Stats;
        var violations = r.Failure is null ? [] : new[] { Describe(spec, r, determinismInterval) };
        return new SimulationResult(1, s.Steps, s.Faults, s.Commits, s.Acknowledged, s.Operations, violations, watch.Elapsed, r.Events.ToArray());
    }

    private static (SeedResult Result, DeterminismProbe Probe) RunSeed<TCommand, TResult>(SimulationSpec<TCommand, TResult> spec, SimOptions options,
        ulong seed, int interval, bool tracking, bool trace)
    {
        var probe = new DeterminismProbe(interval, tracking);
        return (Simulator.runWith(spec.Build(probe), options, seed, trace), probe);
    }

    /// <summary>The violation of <paramref name="r"/>; when nodes' states disagreed, the seed runs again with every
    /// index compared, to name the first index where two nodes differ.</summary>
    private static SeedViolation Describe<TCommand, TResult>(SimulationSpec<TCommand, TResult> spec, SeedResult r, int interval)
    {
        var f = r.Failure!.Value;
        string? divergence = null;
        long? index = null;
        if (f.Violation.Property is "state machine determinism" or "snapshot/log agreement")
        {
            var (_, probe) = RunSeed(spec, r.Options, r.Seed, 1, true, false);
            if (probe.Earliest is { } d)
            {
                divergence = d.Describe();
                index = d.Index;
            }
        }
        return new SeedViolation(r.Seed, f.Violation.Property, f.Violation.Detail, f.Step, f.Time, Args.replayArgs(r.Options, r.Seed),
            interval, divergence, index);
    }
}
