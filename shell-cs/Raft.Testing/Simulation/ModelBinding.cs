using Microsoft.FSharp.Core;
using Raft.Simulation;
using static Raft.Simulation.Linearizability;

namespace Raft.Testing;

/// <summary>How the simulator draws reads of a user's state machine and judges a seed's client history.</summary>
internal abstract class HistoryBinding<TCommand, TResult>
{
    /// <summary>The simulator's reads (none when the spec has no reads).</summary>
    public abstract FSharpValueOption<ReadView<EncodedCommand<TCommand>>> Reads { get; }

    /// <summary>The verdict on one seed's history.</summary>
    public abstract HistoryVerdict Check(ClientHistory<EncodedCommand<TCommand>> history);
}

/// <summary>
/// A seed's client history held against the user's model: every proposed command is an operation (its output the
/// state machine's result on the leader that accepted it, mapped to the model's output), every served read one too.
/// </summary>
internal sealed class ModelBinding<TCommand, TResult, TState, TInput, TOutput>(
    IModel<TState, TInput, TOutput> model,
    Func<TCommand, TInput> input,
    Func<TCommand, TResult, TOutput> output,
    Func<SimulationRandom, TInput>? nextRead,
    Func<Raft.Node.IStateMachine<TCommand, TResult>, TInput, TOutput>? read,
    bool localReads) : HistoryBinding<TCommand, TResult>
{
    /// <summary>Histories are bounded by the simulator's history limit; a search that runs out of this budget is
    /// a pathological schedule, reported as no violation (as the built-in key-value check does).</summary>
    private const long StepsPerPartition = 2_000_000;

    public override FSharpValueOption<ReadView<EncodedCommand<TCommand>>> Reads =>
        nextRead is null || read is null
            ? FSharpValueOption<ReadView<EncodedCommand<TCommand>>>.None
            : FSharpValueOption<ReadView<EncodedCommand<TCommand>>>.Some(new ReadView<EncodedCommand<TCommand>>(
                FuncConvert.FromFunc<Rng, object>(rng => nextRead(new SimulationRandom(rng))!),
                FuncConvert.FromFunc<Raft.Simulation.IStateMachine<EncodedCommand<TCommand>>, object, object?>((machine, query) =>
                    read(((MachineAdapter<TCommand, TResult>)machine).Machine, (TInput)query)),
                localReads,
                FuncConvert.FromFunc<object, string>(query => query?.ToString() ?? "null")));

    public override HistoryVerdict Check(ClientHistory<EncodedCommand<TCommand>> history)
    {
        var ops = new List<Operation<TInput, TOutput>>();
        foreach (var r in history.Reads)
        {
            if (r.Served.IsSome)
            {
                var (at, value) = r.Served.Value;
                ops.Add(FSharpModel.Returned(r.Node, (TInput)r.Query, r.Call, at, (TOutput)value!));
            }
        }
        var cutoff = long.MinValue;
        foreach (var p in history.Proposals)
            if (p.Acknowledged.IsSome) cutoff = Math.Max(cutoff, p.Acknowledged.Value);
        foreach (var op in ops)
            if (op.Outcome is Outcome<TOutput>.Returned returned) cutoff = Math.Max(cutoff, returned.at);
        foreach (var p in history.Proposals)
        {
            // A refused proposal certainly did not happen; one with an unknown outcome called after every return
            // cannot explain any output, so leaving it out changes nothing.
            if (p.Refused || (p.Acknowledged.IsNone && p.Call > cutoff)) continue;
            for (var k = 0; k < p.Commands.Length; k++)
            {
                var command = p.Commands[k].Original;
                var modelInput = input(command);
                if (p.Acknowledged.IsSome && p.Results[k] is not ApplyFailure)
                    ops.Add(FSharpModel.Returned(p.Node, modelInput, p.Call, p.Acknowledged.Value, output(command, (TResult)p.Results[k]!)));
                else
                    ops.Add(FSharpModel.Unknown<TInput, TOutput>(p.Node, modelInput, p.Call));
            }
        }
        var result = LinearizabilityChecker.Check(model, ops, StepsPerPartition);
        var violation = result.Verdict == LinearizabilityVerdict.NotLinearizable ? result.FailingWindow ?? result.Explanation : null;
        return new HistoryVerdict(ops.Count, violation is null ? null : FSharpOption<string>.Some(violation));
    }
}

/// <summary>No model: the simulator checks the protocol's invariants and the state machine's determinism only.</summary>
internal sealed class NoModel<TCommand, TResult> : HistoryBinding<TCommand, TResult>
{
    public override FSharpValueOption<ReadView<EncodedCommand<TCommand>>> Reads => FSharpValueOption<ReadView<EncodedCommand<TCommand>>>.None;

    public override HistoryVerdict Check(ClientHistory<EncodedCommand<TCommand>> history) => new(0, null);
}
