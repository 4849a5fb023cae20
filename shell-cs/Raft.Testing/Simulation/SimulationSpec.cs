using MessagePack;
using Microsoft.FSharp.Core;
using Raft.Simulation;
using Raft.Node;

namespace Raft.Testing;

/// <summary>
/// Your production state machine in the deterministic cluster simulator: how to make one, how clients make
/// commands, and optionally the model every seed's client history is checked against. Configure it once, then
/// <see cref="Run"/> it over many seeds.
/// </summary>
/// <example><code>
/// var result = new SimulationSpec&lt;BankCommand, long&gt;(() => new Bank(), (random, sequence) => new Deposit(random.Next(4), 1 + random.Next(9)))
///     .WithModel(new BankModel(), command => command, (command, balance) => balance)
///     .Run(new SimulationOptions { Seeds = 200 });
/// result.ThrowIfViolated();   // the seed, the replay call, the failing window or the first divergent index
/// </code></example>
/// <typeparam name="TCommand">The command type, serialized with your MessagePack options as in production.</typeparam>
/// <typeparam name="TResult">What <c>Apply</c> returns to the proposer.</typeparam>
public sealed class SimulationSpec<TCommand, TResult>
{
    private readonly Func<IStateMachine<TCommand, TResult>> _factory;
    private readonly Func<SimulationRandom, long, TCommand> _commands;
    private MessagePackSerializerOptions _serializer = MessagePackSerializerOptions.Standard;
    private Func<IStateMachine<TCommand, TResult>, ulong>? _fingerprint;
    private HistoryBinding<TCommand, TResult> _history = new NoModel<TCommand, TResult>();

    /// <param name="stateMachine">Makes a fresh, empty state machine (one per simulated node and incarnation: a
    /// crash discards it and the node rebuilds its state from its snapshot and log, as a restarted process does).</param>
    /// <param name="commands">The next client command from the seeded random source; the second argument is a
    /// number unique within a seed (put it in the command to make every command distinct, if you like).</param>
    public SimulationSpec(Func<IStateMachine<TCommand, TResult>> stateMachine, Func<SimulationRandom, long, TCommand> commands)
    {
        _factory = stateMachine ?? throw new ArgumentNullException(nameof(stateMachine));
        _commands = commands ?? throw new ArgumentNullException(nameof(commands));
    }

    /// <summary>The MessagePack options your nodes use for commands (your resolver); default
    /// <see cref="MessagePackSerializerOptions.Standard"/>.</summary>
    public SimulationSpec<TCommand, TResult> WithSerializer(MessagePackSerializerOptions options)
    {
        _serializer = options ?? throw new ArgumentNullException(nameof(options));
        return this;
    }

    /// <summary>A digest of the whole state, compared between nodes at every index instead of the snapshot bytes at
    /// sampled indexes: faster for a large state, and it may cover what a snapshot leaves out.</summary>
    public SimulationSpec<TCommand, TResult> WithFingerprint(Func<IStateMachine<TCommand, TResult>, ulong> fingerprint)
    {
        _fingerprint = fingerprint ?? throw new ArgumentNullException(nameof(fingerprint));
        return this;
    }

    /// <summary>Checks every seed's client history for linearizability against <paramref name="model"/>, whose
    /// inputs are the commands themselves.</summary>
    /// <param name="model">The sequential specification.</param>
    /// <param name="output">The model's output for a command and the result <c>Apply</c> gave the proposer.</param>
    public SimulationSpec<TCommand, TResult> WithModel<TState, TOutput>(IModel<TState, TCommand, TOutput> model, Func<TCommand, TResult, TOutput> output) =>
        WithModel(model, command => command, output);

    /// <summary>Checks every seed's client history for linearizability against <paramref name="model"/>.</summary>
    /// <param name="model">The sequential specification.</param>
    /// <param name="input">The model's input for a command.</param>
    /// <param name="output">The model's output for a command and the result <c>Apply</c> gave the proposer.</param>
    public SimulationSpec<TCommand, TResult> WithModel<TState, TInput, TOutput>(IModel<TState, TInput, TOutput> model,
        Func<TCommand, TInput> input, Func<TCommand, TResult, TOutput> output)
    {
        _history = new ModelBinding<TCommand, TResult, TState, TInput, TOutput>(model, input, output, null, null, false);
        return this;
    }

    /// <summary>Checks every seed's client history, writes and reads, against <paramref name="model"/>. Clients read
    /// at <see cref="SimulationOptions.ReadRate"/> through ReadIndex (a linearizable read, as
    /// <c>RaftGroup.ReadAsync</c> does) unless <paramref name="readsBypassConsensus"/>.</summary>
    /// <param name="model">The sequential specification.</param>
    /// <param name="input">The model's input for a command.</param>
    /// <param name="output">The model's output for a command and the result <c>Apply</c> gave the proposer.</param>
    /// <param name="nextRead">The next read a client makes, as a model input.</param>
    /// <param name="read">A node's answer to a read, from its state machine (your read path).</param>
    /// <param name="readsBypassConsensus">Serve reads from the asked node's own state machine at once, without
    /// ReadIndex: a service that reads its local replica. Not linearizable; the check is expected to say so.</param>
    public SimulationSpec<TCommand, TResult> WithModel<TState, TInput, TOutput>(IModel<TState, TInput, TOutput> model,
        Func<TCommand, TInput> input, Func<TCommand, TResult, TOutput> output,
        Func<SimulationRandom, TInput> nextRead, Func<IStateMachine<TCommand, TResult>, TInput, TOutput> read, bool readsBypassConsensus = false)
    {
        ArgumentNullException.ThrowIfNull(nextRead);
        ArgumentNullException.ThrowIfNull(read);
        _history = new ModelBinding<TCommand, TResult, TState, TInput, TOutput>(model, input, output, nextRead, read, readsBypassConsensus);
        return this;
    }

    /// <summary>Runs the seeds of <paramref name="options"/> (defaults: <see cref="SimulationOptions"/>).</summary>
    public SimulationResult Run(SimulationOptions? options = null) => RaftSimulation.Run(this, options);

    internal bool HasFingerprint => _fingerprint is not null;

    /// <summary>The simulator's spec for one seed (its own determinism probe: seeds may run in parallel).</summary>
    internal StateMachineSpec<EncodedCommand<TCommand>> Build(DeterminismProbe probe)
    {
        var codec = new CommandCodec<TCommand>(_serializer);
        SimulationRandom? random = null;
        Rng? source = null;
        return new StateMachineSpec<EncodedCommand<TCommand>>(
            FuncConvert.FromFunc<long, Raft.Simulation.IStateMachine<EncodedCommand<TCommand>>>(node =>
                new MachineAdapter<TCommand, TResult>((int)node, _factory(), codec, _fingerprint, probe)),
            FuncConvert.FromFunc<Rng, long, ValueTuple<EncodedCommand<TCommand>, int>>((rng, sequence) =>
            {
                if (!ReferenceEquals(rng, source)) (source, random) = (rng, new SimulationRandom(rng));
                var command = _commands(random!, sequence);
                var bytes = codec.Encode(command);
                return (new EncodedCommand<TCommand>(command, bytes, sequence), bytes.Length);
            }),
            FuncConvert.FromFunc<EncodedCommand<TCommand>, string>(c => c.ToString()),
            _history.Reads,
            FSharpValueOption<FSharpFunc<ClientHistory<EncodedCommand<TCommand>>, HistoryVerdict>>.Some(
                FuncConvert.FromFunc<ClientHistory<EncodedCommand<TCommand>>, HistoryVerdict>(_history.Check)));
    }
}
