namespace Raft.Core

/// A seeded SplitMix64 generator carried inside the state: the core's only source of randomness,
/// so the same seed and the same inputs give the same outputs.
[<Struct>]
type Prng = { Seed: uint64 }

/// Operations on <see cref="Prng"/>; every call returns the next generator with the value.
module Prng =
    /// A generator from a seed (any value, 0 included).
    let create (seed: uint64) = { Seed = seed }

    /// The next 64 random bits.
    let next (prng: Prng) : struct (uint64 * Prng) =
        let s = prng.Seed + 0x9E3779B97F4A7C15UL
        let mutable z = s
        z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
        z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        struct (z ^^^ (z >>> 31), { Seed = s })

    /// A value uniformly in [lo, hi) (hi > lo).
    let range (lo: int) (hi: int) (prng: Prng) : struct (int * Prng) =
        if hi <= lo then invalidArg "hi" $"empty range [{lo}, {hi})"
        let struct (bits, next') = next prng
        struct (lo + int (bits % uint64 (hi - lo)), next')
