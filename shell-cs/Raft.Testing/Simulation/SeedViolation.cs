namespace Raft.Testing;

/// <summary>A seed that broke a property, with everything needed to act on it.</summary>
public sealed class SeedViolation
{
    internal SeedViolation(ulong seed, string property, string detail, long step, long time, string replayArguments,
        int determinismInterval, string? firstDivergence, long? firstDivergentIndex)
    {
        Seed = seed;
        Property = property;
        Detail = detail;
        Step = step;
        Time = time;
        ReplayArguments = replayArguments;
        FirstDivergence = firstDivergence;
        FirstDivergentIndex = firstDivergentIndex;
        var interval = determinismInterval == new SimulationOptions().DeterminismInterval ? "" : $", determinismInterval: {determinismInterval}";
        ReplayCall = $"RaftSimulation.Replay(spec, \"{replayArguments}\"{interval})";
    }

    /// <summary>The seed.</summary>
    public ulong Seed { get; }

    /// <summary>The property broken: "linearizability", "state machine determinism", "command serialization",
    /// "snapshot/log agreement", "acknowledged write lost", ... (the simulator's invariants).</summary>
    public string Property { get; }

    /// <summary>What broke, in the simulator's words; for "linearizability", the smallest failing window of the
    /// history with the state it starts from.</summary>
    public string Detail { get; }

    /// <summary>Simulator step at which it was found.</summary>
    public long Step { get; }

    /// <summary>Simulated time at which it was found.</summary>
    public long Time { get; }

    /// <summary>The simulator command line of exactly this seed (<see cref="SimulationOptions.Parse"/> reads it).</summary>
    public string ReplayArguments { get; }

    /// <summary>The C# call that replays this seed with a spec built as the failing one was.</summary>
    public string ReplayCall { get; }

    /// <summary>For a state machine whose nodes disagree: where they first did, found by running the seed again with
    /// every index compared (null otherwise, or when the rerun did not diverge: then the state machine is not even
    /// deterministic across runs).</summary>
    public string? FirstDivergence { get; }

    /// <summary>The index of <see cref="FirstDivergence"/>.</summary>
    public long? FirstDivergentIndex { get; }

    /// <summary>The report to print: seed, property, detail, first divergent index, replay call.</summary>
    public string Report
    {
        get
        {
            var nl = Environment.NewLine;
            var text = $"VIOLATION seed {Seed}: {Property} at step {Step} (time {Time}){nl}  " + Detail.ReplaceLineEndings(nl + "  ");
            if (FirstDivergence is not null) text += nl + "  " + FirstDivergence;
            return text + nl + "  replay: " + ReplayCall;
        }
    }

    /// <inheritdoc/>
    public override string ToString() => Report;
}
