using System.Diagnostics;
using Microsoft.FSharp.Collections;
using Raft.Simulation;
using static Raft.Simulation.Linearizability;

namespace Raft.Testing;

/// <summary>
/// Checks a client history for linearizability against your model (Wing &amp; Gong's search with Lowe's memo, as in
/// Porcupine and Knossos), partition by partition, and names the smallest failing window of a violation.
/// </summary>
/// <example><code>
/// var history = HistoryFile.Read&lt;BankOp, long&gt;("history.jsonl");
/// var result = LinearizabilityChecker.Check(new BankModel(), history);
/// if (!result.IsLinearizable) Console.WriteLine(result);   // the window and why no order explains it
/// </code></example>
public static class LinearizabilityChecker
{
    /// <summary>Search steps allowed per partition before the verdict is <see cref="LinearizabilityVerdict.Inconclusive"/>.</summary>
    public const long DefaultMaxStepsPerPartition = 10_000_000;

    /// <summary>Checks <paramref name="history"/> against <paramref name="model"/>. Failed operations are left out
    /// (they did not happen); unknown ones may have taken effect at any time after their call, or not at all.</summary>
    /// <exception cref="ArgumentException">An operation returns before its call.</exception>
    public static LinearizabilityResult Check<TState, TInput, TOutput>(IModel<TState, TInput, TOutput> model,
        IEnumerable<HistoryOperation<TInput, TOutput>> history, long maxStepsPerPartition = DefaultMaxStepsPerPartition)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(history);
        var ops = new List<Operation<TInput, TOutput>>();
        foreach (var op in history)
        {
            switch (op.Outcome)
            {
                case OperationOutcome.Completed:
                    if (op.Return < op.Call) throw new ArgumentException($"operation returns before its call: {op}", nameof(history));
                    ops.Add(FSharpModel.Returned(op.Client, op.Input, op.Call, op.Return, op.Output!));
                    break;
                case OperationOutcome.Unknown:
                    ops.Add(FSharpModel.Unknown<TInput, TOutput>(op.Client, op.Input, op.Call));
                    break;
            }
        }
        return Check(model, ops, maxStepsPerPartition);
    }

    internal static LinearizabilityResult Check<TState, TInput, TOutput>(IModel<TState, TInput, TOutput> model,
        List<Operation<TInput, TOutput>> ops, long maxStepsPerPartition)
    {
        var watch = Stopwatch.StartNew();
        var fsModel = FSharpModel.Of(model);
        var options = new CheckOptions(maxStepsPerPartition);
        var partitions = Partition(model, ops);
        string? inconclusive = null;
        foreach (var part in partitions)
        {
            var list = ListModule.OfSeq(part);
            var result = checkWith(options, fsModel, list);
            if (result is CheckResult<TInput, TOutput>.NotLinearizable violation)
            {
                var window = Raft.Simulation.FailingWindow.find(options, fsModel, violation.Item.Operations);
                var described = window is null ? null : Raft.Simulation.FailingWindow.describe(fsModel, window.Value);
                return new LinearizabilityResult(LinearizabilityVerdict.NotLinearizable, ops.Count, partitions.Count,
                    described, violation.Item.Explanation, watch.Elapsed);
            }
            if (result is CheckResult<TInput, TOutput>.Inconclusive i && inconclusive is null)
                inconclusive = $"the search ran out of budget after {i.steps} steps on a partition of {part.Count} operations";
        }
        return new LinearizabilityResult(inconclusive is null ? LinearizabilityVerdict.Linearizable : LinearizabilityVerdict.Inconclusive,
            ops.Count, partitions.Count, null, inconclusive, watch.Elapsed);
    }

    /// <summary>The operations grouped by the model's partition key, groups in order of first appearance.</summary>
    private static List<List<Operation<TInput, TOutput>>> Partition<TState, TInput, TOutput>(IModel<TState, TInput, TOutput> model,
        List<Operation<TInput, TOutput>> ops)
    {
        var noKey = new object();
        var groups = new Dictionary<object, List<Operation<TInput, TOutput>>>();
        var ordered = new List<List<Operation<TInput, TOutput>>>();
        foreach (var op in ops)
        {
            var key = model.PartitionKey(op.Input) ?? noKey;
            if (!groups.TryGetValue(key, out var group))
            {
                groups[key] = group = [];
                ordered.Add(group);
            }
            group.Add(op);
        }
        return ordered;
    }
}
