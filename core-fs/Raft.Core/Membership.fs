namespace Raft.Core

/// The cluster's configuration: who votes and who only learns.
/// While `Outgoing` is non-empty the cluster is in joint consensus: a decision needs a majority of
/// `Voters` AND a majority of `Outgoing` (thesis §4.3).
type Membership =
    {
        /// Voters of the (incoming) configuration.
        Voters: Set<NodeId>
        /// Voters of the outgoing configuration; empty unless joint.
        Outgoing: Set<NodeId>
        /// Non-voting members that receive the log.
        Learners: Set<NodeId>
        /// Outgoing voters that become learners when the joint configuration is left.
        LearnersNext: Set<NodeId>
        /// Whether the leader leaves the joint configuration by itself once it is committed.
        AutoLeave: bool
    }

/// One change of one node's role.
type MembershipChange =
    /// Make the node a voter (adds it, or promotes a learner).
    | AddVoter of NodeId
    /// Make the node a learner (adds it, or demotes a voter).
    | AddLearner of NodeId
    /// Remove the node from the configuration.
    | RemoveNode of NodeId

/// A configuration change request.
type ConfChange =
    /// Changes applied in one step; at most one voter may be added or removed (thesis §4.1).
    | Simple of MembershipChange
    /// Enter joint consensus with any set of changes; `autoLeave` leaves it once committed.
    | EnterJoint of changes: MembershipChange list * autoLeave: bool
    /// Leave the current joint configuration.
    | LeaveJoint

/// The configuration history the core keeps in its hard state so a restart restores it.
/// Only the newest configuration entry can be uncommitted (a leader appends one only after the previous
/// one committed), so one step of history is enough to undo a truncated configuration entry.
type ConfigState =
    {
        /// The configuration in effect: the newest configuration entry in the log (or the snapshot's).
        Current: Membership
        /// Index of the entry (or snapshot) that established `Current`.
        CurrentIndex: Index
        /// The configuration before `Current`, restored if `Current`'s entry is truncated away.
        Previous: Membership
        /// Index of the entry (or snapshot) that established `Previous`.
        PreviousIndex: Index
    }
