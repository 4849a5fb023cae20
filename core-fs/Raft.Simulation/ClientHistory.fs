namespace Raft.Simulation

open System.Collections.Generic
open Raft.Core

/// One client proposal and what its client learned.
type ClientProposal<'T> =
    {
        Tag: int64
        /// The node the client sent it to.
        Node: int
        Commands: 'T[]
        /// Simulated time of the call.
        Call: int64
        /// Where the leader appended it, when it did: (first index, term).
        mutable Accepted: struct (Index * Term) voption
        /// When the client learned it succeeded (its leader applied it in its term); ValueNone when the
        /// client never learned (dropped, overwritten, or the leader crashed: the outcome is unknown).
        mutable Acknowledged: int64 voption
        /// True when the node refused it at once (not leader, limits): it certainly did not happen.
        mutable Refused: bool
        /// What the accepting node's state machine returned for each command, in the proposal's term (null until
        /// applied there). Meaningful for every command once `Acknowledged` is set.
        Results: (obj | null)[]
    }

/// One client read and what its client saw.
type ClientRead =
    {
        Tag: int64
        /// The node the client asked.
        Node: int
        /// What the client asked (drawn by the spec's `ReadView`, opaque to the simulator).
        Query: obj
        /// Simulated time of the call.
        Call: int64
        /// When the read was served and the node's answer; ValueNone when it was dropped or never completed (a read
        /// has no effect, so it is left out of the history).
        mutable Served: struct (int64 * (obj | null)) voption
    }

/// A seed's client history as a check reads it: every proposal and every recorded read, oldest first.
type ClientHistory<'T> =
    {
        Proposals: IReadOnlyList<ClientProposal<'T>>
        Reads: IReadOnlyList<ClientRead>
    }

/// What a check of a client history found.
type HistoryVerdict =
    {
        /// Operations checked.
        Operations: int
        /// Why the history is not linearizable; None when it is (or when the search ran out of budget).
        Violation: string option
    }

/// A broken property of the user's code found by the spec's own functions (a command that does not survive its
/// serializer, a read that throws), thrown from them to stop the run: the simulator reports it as a violation of
/// `Property` instead of a broken host contract.
type PropertyViolationException(property: string, detail: string) =
    inherit System.Exception(detail)

    /// The property broken, as violation reports name it (e.g. "command serialization").
    member _.Property = property
