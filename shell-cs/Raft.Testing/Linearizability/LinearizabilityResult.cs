namespace Raft.Testing;

/// <summary>The checker's verdict on a history.</summary>
public enum LinearizabilityVerdict
{
    /// <summary>Some order of the operations, each within its call and return, explains every output.</summary>
    Linearizable,

    /// <summary>No such order exists.</summary>
    NotLinearizable,

    /// <summary>The search budget ran out on one partition (no violation found in the others).</summary>
    Inconclusive,
}

/// <summary>What <see cref="LinearizabilityChecker"/> found.</summary>
public sealed class LinearizabilityResult
{
    internal LinearizabilityResult(LinearizabilityVerdict verdict, int operations, int partitions, string? failingWindow, string? explanation, TimeSpan elapsed)
    {
        Verdict = verdict;
        Operations = operations;
        Partitions = partitions;
        FailingWindow = failingWindow;
        Explanation = explanation;
        Elapsed = elapsed;
    }

    /// <summary>The verdict.</summary>
    public LinearizabilityVerdict Verdict { get; }

    /// <summary>True only for <see cref="LinearizabilityVerdict.Linearizable"/>.</summary>
    public bool IsLinearizable => Verdict == LinearizabilityVerdict.Linearizable;

    /// <summary>Operations checked (failed ones are left out: they did not happen).</summary>
    public int Operations { get; }

    /// <summary>Independent sub-histories checked (by <see cref="IModel{TState,TInput,TOutput}.PartitionKey"/>).</summary>
    public int Partitions { get; }

    /// <summary>For a violation: the smallest stretch of the failing partition that is not linearizable on its own,
    /// the state it starts from, its operations, and why no order explains them.</summary>
    public string? FailingWindow { get; }

    /// <summary>For a violation: the checker's account of the whole failing partition; for an inconclusive check,
    /// which partition ran out of budget.</summary>
    public string? Explanation { get; }

    /// <summary>Time the check took.</summary>
    public TimeSpan Elapsed { get; }

    /// <inheritdoc/>
    public override string ToString() => Verdict switch
    {
        LinearizabilityVerdict.Linearizable => $"linearizable: {Operations} operations in {Partitions} partitions, checked in {Elapsed.TotalMilliseconds:F0} ms",
        LinearizabilityVerdict.Inconclusive => $"inconclusive: {Explanation}",
        _ => $"NOT linearizable ({Operations} operations in {Partitions} partitions)" + Environment.NewLine + (FailingWindow ?? Explanation),
    };
}
