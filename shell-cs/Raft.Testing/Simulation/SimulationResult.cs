namespace Raft.Testing;

/// <summary>Totals of a simulation over many seeds and the seeds that broke a property.</summary>
public sealed class SimulationResult
{
    internal SimulationResult(int seeds, long steps, long faults, long commits, long acknowledged, long operations,
        IReadOnlyList<SeedViolation> violations, TimeSpan elapsed, IReadOnlyList<string> events)
    {
        Seeds = seeds;
        Steps = steps;
        Faults = faults;
        Commits = commits;
        Acknowledged = acknowledged;
        Operations = operations;
        Violations = violations;
        Elapsed = elapsed;
        Events = events;
    }

    /// <summary>Seeds run.</summary>
    public int Seeds { get; }

    /// <summary>Simulator events processed over all seeds.</summary>
    public long Steps { get; }

    /// <summary>Faults injected (lost, duplicated and delayed messages, crashes, torn writes, partitions).</summary>
    public long Faults { get; }

    /// <summary>Indexes committed.</summary>
    public long Commits { get; }

    /// <summary>Proposals acknowledged to their clients.</summary>
    public long Acknowledged { get; }

    /// <summary>Client operations checked against the model.</summary>
    public long Operations { get; }

    /// <summary>The seeds that broke a property, in seed order.</summary>
    public IReadOnlyList<SeedViolation> Violations { get; }

    /// <summary>True when no seed broke anything.</summary>
    public bool Passed => Violations.Count == 0;

    /// <summary>Wall-clock time of the run.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Simulator steps per second of wall-clock time.</summary>
    public double StepsPerSecond => Elapsed.TotalSeconds > 0 ? Steps / Elapsed.TotalSeconds : 0;

    /// <summary>Notable events of a traced replay (elections, crashes, partitions, ...), oldest first; empty otherwise.</summary>
    public IReadOnlyList<string> Events { get; }

    /// <summary>The one-line account.</summary>
    public string Summary =>
        $"{Seeds} seeds, {Steps} steps, {Faults} faults, {Commits} commits, {Acknowledged} acknowledged, {Operations} operations checked, {Violations.Count} violations";

    /// <summary>The summary and the report of every violation.</summary>
    public string Report => string.Join(Environment.NewLine, Violations.Select(v => v.Report).Prepend(Summary));

    /// <summary>Throws <see cref="SimulationViolationException"/> with <see cref="Report"/> when a seed broke a property.</summary>
    public void ThrowIfViolated()
    {
        if (!Passed) throw new SimulationViolationException(this);
    }

    /// <inheritdoc/>
    public override string ToString() => Report;
}

/// <summary>A simulation found a violation; the message is the report (seed, property, replay call).</summary>
public sealed class SimulationViolationException(SimulationResult result) : Exception(result.Report)
{
    /// <summary>The simulation's result.</summary>
    public SimulationResult Result { get; } = result;
}
