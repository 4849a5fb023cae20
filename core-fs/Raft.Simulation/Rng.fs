namespace Raft.Simulation

/// The simulator's only source of randomness: a SplitMix64 generator. Mutable (one per stream, never shared
/// between threads) because the simulator draws millions of numbers per run; never `System.Random`, whose
/// sequence is not specified across .NET versions, so a seed would stop replaying after an upgrade.
[<Sealed>]
type Rng(seed: uint64) =
    let mutable state = seed

    /// The generator's current state (what a later `Rng(state)` would continue from).
    member _.State = state

    /// The next 64 random bits.
    member _.Next() : uint64 =
        state <- state + 0x9E3779B97F4A7C15UL
        let mutable z = state
        z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
        z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        z ^^^ (z >>> 31)

    /// A value uniformly in [0, bound) (bound > 0; the modulo bias is negligible for simulator bounds).
    member r.Int(bound: int) : int =
        if bound <= 0 then invalidArg (nameof bound) $"bound must be positive, was {bound}"
        int (r.Next() % uint64 bound)

    /// A value uniformly in [lo, hi] (inclusive; hi >= lo).
    member r.Between(lo: int64, hi: int64) : int64 =
        if hi < lo then invalidArg (nameof hi) $"empty range [{lo}, {hi}]"
        lo + int64 (r.Next() % uint64 (hi - lo + 1L))

    /// True with probability `p` (0 never, 1 always). Uses 53 bits, so the result is exact and portable.
    member r.Chance(p: float) : bool =
        if p <= 0.0 then false
        elif p >= 1.0 then true
        else float (r.Next() >>> 11) * (1.0 / 9007199254740992.0) < p

    /// An element of a non-empty array, uniformly.
    member r.Pick(items: 'a[]) : 'a = items[r.Int items.Length]

    /// An independent generator seeded from this one: each concern (network, disks, faults, clients) draws
    /// from its own stream, so e.g. one more client request does not reshuffle every later network delay.
    member r.Fork() = Rng(r.Next())

/// Seed mixing helpers.
module Rng =
    /// A well-mixed 64-bit value from a seed and a salt (SplitMix64 finaliser), for deriving per-node seeds.
    let mix (seed: uint64) (salt: uint64) =
        let mutable z = seed + (salt + 1UL) * 0x9E3779B97F4A7C15UL
        z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
        z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        z ^^^ (z >>> 31)
