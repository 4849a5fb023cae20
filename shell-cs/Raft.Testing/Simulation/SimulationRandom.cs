using Raft.Simulation;

namespace Raft.Testing;

/// <summary>
/// The simulator's seeded random source, as a command or read generator sees it. Draw every random choice from it
/// (never <see cref="Random"/> or the clock): the same seed then gives the same commands, so a failing seed replays.
/// </summary>
public sealed class SimulationRandom
{
    private readonly Rng _rng;

    internal SimulationRandom(Rng rng) => _rng = rng;

    /// <summary>A value uniformly in [0, <paramref name="bound"/>) (bound &gt; 0).</summary>
    public int Next(int bound) => _rng.Int(bound);

    /// <summary>A value uniformly in [<paramref name="low"/>, <paramref name="high"/>] (both inclusive).</summary>
    public long Between(long low, long high) => _rng.Between(low, high);

    /// <summary>True with probability <paramref name="probability"/>.</summary>
    public bool Chance(double probability) => _rng.Chance(probability);

    /// <summary>An element of a non-empty list, uniformly.</summary>
    public T Pick<T>(IReadOnlyList<T> items) => items[_rng.Int(items.Count)];

    /// <summary>The next 64 random bits.</summary>
    public ulong NextBits() => _rng.Next();
}
