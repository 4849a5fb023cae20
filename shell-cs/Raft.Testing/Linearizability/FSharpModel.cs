using Microsoft.FSharp.Core;
using Raft.Simulation;
using static Raft.Simulation.Linearizability;

namespace Raft.Testing;

/// <summary>The F# checker's view of a C# <see cref="IModel{TState,TInput,TOutput}"/> and of its operations.</summary>
internal static class FSharpModel
{
    /// <summary>The model, unpartitioned (partitions are split before the search).</summary>
    public static Model<TState, TInput, TOutput> Of<TState, TInput, TOutput>(IModel<TState, TInput, TOutput> model)
    {
        var step = FuncConvert.FromFunc<TState, TInput, FSharpOption<TOutput>?, FSharpOption<TState>?>((state, input, observed) =>
        {
            var (output, next) = model.Apply(state, input);
            return observed is not null && !EqualityComparer<TOutput>.Default.Equals(observed.Value, output) ? null! : FSharpOption<TState>.Some(next);
        });
        return new Model<TState, TInput, TOutput>(
            model.Initial,
            step,
            null,
            FuncConvert.FromFunc<TState, string>(s => s?.ToString() ?? "null"),
            FuncConvert.FromFunc<Operation<TInput, TOutput>, string>(Describe));
    }

    public static Operation<TInput, TOutput> Returned<TInput, TOutput>(int client, TInput input, long call, long returned, TOutput output) =>
        new(client, input, call, Outcome<TOutput>.NewReturned(returned, output));

    public static Operation<TInput, TOutput> Unknown<TInput, TOutput>(int client, TInput input, long call) =>
        new(client, input, call, Outcome<TOutput>.TimedOut);

    private static string Describe<TInput, TOutput>(Operation<TInput, TOutput> op) =>
        op.Outcome is Outcome<TOutput>.Returned r
            ? $"client {op.Client}: {op.Input} -> {r.output} [{op.Call}..{r.at}]"
            : $"client {op.Client}: {op.Input} -> unknown [{op.Call}..]";
}
