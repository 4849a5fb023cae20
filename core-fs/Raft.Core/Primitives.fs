namespace Raft.Core

/// Unit of measure for Raft terms: a term never mixes with an index or a node id.
[<Measure>]
type term

/// Unit of measure for log indexes.
[<Measure>]
type index

/// Unit of measure for node identifiers.
[<Measure>]
type node

/// A Raft term (0 before any election).
type Term = int64<term>

/// A log index (1 is the first entry; 0 means "none").
type Index = int64<index>

/// A node identifier (0 means "none").
type NodeId = int64<node>

/// Conversions for callers that hold plain numbers (C# sees these types as `long`).
module Ids =
    /// No node (no leader known, no vote cast).
    [<Literal>]
    let NoneRaw = 0L

    /// The "no node" id.
    let none: NodeId = 0L<node>
    /// A term from a plain number.
    let inline term (value: int64) : Term = LanguagePrimitives.Int64WithMeasure value
    /// An index from a plain number.
    let inline index (value: int64) : Index = LanguagePrimitives.Int64WithMeasure value
    /// A node id from a plain number.
    let inline node (value: int64) : NodeId = LanguagePrimitives.Int64WithMeasure value
