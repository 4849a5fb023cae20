using System.Diagnostics;
using System.Diagnostics.Metrics;
using Raft.Core;
using Raft.Transport;

namespace Raft.Node;

/// <summary>
/// The node host's instruments on the <c>Raft</c> meter (System.Diagnostics.Metrics), named by OpenTelemetry's
/// conventions (durations in seconds, bytes in <c>By</c>; an exporter adds <c>_total</c> and unit suffixes). Every
/// measurement carries <c>raft.node</c>; per-peer ones <c>raft.peer</c>. Group-level figures are aggregated over the
/// node's groups (10,000 groups times dozens of instruments would explode a time-series database); per-group detail
/// is in <see cref="IRaftNode.GetStatus"/>. Recording sites check nothing when no listener is attached.
/// The README's "Operate it" section lists every instrument with its meaning.
/// </summary>
public sealed class RaftMetrics : IDisposable
{
    /// <summary>The meter's name, for <c>AddMeter("Raft")</c> in OpenTelemetry or <c>dotnet-counters</c>.</summary>
    public const string MeterName = "Raft";

    /// <summary>Histogram bucket boundaries in seconds for 100 µs to 10 s (about three per decade).</summary>
    public static readonly IReadOnlyList<double> DurationBuckets =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly KeyValuePair<string, object?> _node;
    private readonly Counter<long> _proposals, _proposalsDropped, _forwarded, _applied, _leaderChanges, _roleTransitions,
        _electionsStarted, _electionsWon, _electionsLost, _preVotesStarted, _votes, _transfers, _reads, _membershipChanges,
        _entriesAppended, _bytesAppended, _truncations, _compactions, _snapshotsTaken, _snapshotsInstalled, _snapshotsAbandoned,
        _chunksSent, _chunkBytesSent, _appendSent, _appendRejected, _entriesSent, _heartbeatsSent, _sendDropped,
        _groupCommitRounds, _persistWrites, _groupFaults;
    private readonly Histogram<double> _commitLatency, _applyLatency, _persistLatency, _groupCommit, _dataSync, _readLatency,
        _snapshotDuration, _roundTrip;
    private readonly PeerRoundTrips _roundTrips = new();

    /// <param name="nodeId">Tag value of <c>raft.node</c>.</param>
    /// <param name="meterFactory">The DI meter factory, or null for a private meter.</param>
    /// <param name="source">What the observable instruments read (groups, transport); none when null.</param>
    internal RaftMetrics(long nodeId, IMeterFactory? meterFactory, IMetricSource? source)
    {
        // A meter of this node's own: a factory hands out one meter per name and tags, and a meter one instrument per
        // name, so without the tag several nodes in one process would share one observable gauge with the first node's callback.
        var options = new MeterOptions(MeterName) { Tags = [new("raft.node", nodeId)] };
        _meter = meterFactory?.Create(options) ?? new Meter(options);
        _ownsMeter = meterFactory is null;
        _node = new("raft.node", nodeId);

        _proposals = Counter("raft.proposals", "{command}", "Commands handed to the core (each Add is one Propose input: a batch)");
        _proposalsDropped = Counter("raft.proposals.dropped", "{command}", "Proposals refused, by reason (not_leader, transfer_in_progress, uncommitted_limit, ...)");
        _forwarded = Counter("raft.proposals.forwarded", "{command}", "Proposals a follower sent to its leader");
        _applied = Counter("raft.entries.applied", "{entry}", "Entries applied to state machines");
        _leaderChanges = Counter("raft.leader.changes", "{change}", "Role, term or known-leader changes of a group on this node");
        _roleTransitions = Counter("raft.role.transitions", "{transition}", "Role changes, by new role (raft.role) and previous role (raft.role.previous)");
        _electionsStarted = Counter("raft.elections.started", "{election}", "Campaigns started (this node became a candidate)");
        _electionsWon = Counter("raft.elections.won", "{election}", "Campaigns won (candidate became leader)");
        _electionsLost = Counter("raft.elections.lost", "{election}", "Campaigns lost (candidate fell back to follower)");
        _preVotesStarted = Counter("raft.prevotes.started", "{election}", "Pre-vote rounds started (PreVote on)");
        _votes = Counter("raft.votes", "{vote}", "Votes this node cast in real elections, by result (granted, denied)");
        _transfers = Counter("raft.leader.transfers", "{transfer}", "Leadership transfers asked of this node, by result (succeeded or the drop reason)");
        _reads = Counter("raft.reads", "{read}", "Linearizable reads, by result (served, or the drop reason)");
        _membershipChanges = Counter("raft.membership.changes", "{change}", "Configuration changes proposed here, by result (applied, or the drop reason)");
        _entriesAppended = Counter("raft.log.entries.appended", "{entry}", "Entries written to the log (leader and followers)");
        _bytesAppended = Counter("raft.log.bytes.appended", "By", "Encoded entry bytes written to the log");
        _truncations = Counter("raft.log.truncations", "{truncation}", "Appends that overwrote a conflicting suffix of the log");
        _compactions = Counter("raft.log.compactions", "{compaction}", "Log prefixes deleted behind a snapshot");
        _snapshotsTaken = Counter("raft.snapshots.taken", "{snapshot}", "State machine snapshots written");
        _snapshotsInstalled = Counter("raft.snapshots.installed", "{snapshot}", "Snapshots received from a leader and installed");
        _snapshotsAbandoned = Counter("raft.snapshots.abandoned", "{snapshot}", "Incoming snapshot transfers given up");
        _chunksSent = Counter("raft.snapshot.chunks.sent", "{chunk}", "InstallSnapshot chunks sent, per peer");
        _chunkBytesSent = Counter("raft.snapshot.bytes.sent", "By", "Snapshot bytes sent, per peer");
        _appendSent = Counter("raft.append.sent", "{message}", "AppendEntries sent, per peer");
        _appendRejected = Counter("raft.append.rejected", "{message}", "AppendEntries a peer rejected, per peer and reason (log_mismatch)");
        _entriesSent = Counter("raft.replication.entries.sent", "{entry}", "Entries sent in AppendEntries, per peer");
        _heartbeatsSent = Counter("raft.heartbeats.sent", "{message}", "Heartbeats sent");
        _sendDropped = Counter("raft.messages.dropped", "{message}", "Messages the transport refused (queue full, unknown peer, stopped)");
        _groupCommitRounds = Counter("raft.group_commit.rounds", "{round}", "Group-commit rounds (one fdatasync per shared log each)");
        _persistWrites = Counter("raft.persist.writes", "{write}", "Persist effects made durable");
        _groupFaults = Counter("raft.groups.faults", "{group}", "Groups stopped by a failure");

        _commitLatency = Histogram("raft.proposal.commit.duration", "Proposal to commit on this node (its entry reached the state machine's queue)");
        _applyLatency = Histogram("raft.proposal.apply.duration", "Proposal to applied (the caller's task completes)");
        _persistLatency = Histogram("raft.proposal.persist.duration", "Proposal to its entry durable in this node's log (the leader's fsync)");
        _roundTrip = Histogram("raft.peer.round_trip.duration", "Per peer, heartbeat to its response (network, the peer's queue and loop)");
        _groupCommit = Histogram("raft.group_commit.duration", "One group-commit round: writes and fsyncs of the round's groups");
        _dataSync = Histogram("raft.log.sync.duration", "One fdatasync of the shared log");
        _readLatency = Histogram("raft.read.duration", "Linearizable read, call to result");
        _snapshotDuration = Histogram("raft.snapshot.duration", "Writing one state machine snapshot");

        if (source is null) return;
        Gauge("raft.groups", "{group}", "Groups on this node", () => source.Groups);
        Gauge("raft.groups.quiescent", "{group}", "Groups idle and not ticked", () => source.Quiescent);
        Gauge("raft.groups.leading", "{group}", "Groups this node leads", () => source.Leading);
        Gauge("raft.groups.leader_known", "{group}", "Groups with a known leader", () => source.LeaderKnown);
        Gauge("raft.groups.faulted", "{group}", "Groups stopped by a failure", () => source.Faulted);
        _meter.CreateObservableGauge("raft.term.max", () => new Measurement<long>(source.MaxTerm, _node), "{term}", "Highest term over the node's groups");
        _meter.CreateObservableGauge("raft.log.apply_lag.max", () => new Measurement<long>(source.MaxApplyLag, _node), "{entry}",
            "Largest commit index minus applied index over the node's groups");
        _meter.CreateObservableGauge("raft.replication.follower_lag.max", () => source.FollowerLag(_node), "{entry}",
            "Per peer, the largest leader last index minus the peer's match over the groups this node leads");
        _meter.CreateObservableGauge("raft.replication.paused", () => source.PausedPeers(_node), "{group}",
            "Per peer, the groups led here whose replication to it flow control holds: in-flight window full, a probe outstanding, a snapshot in transfer");
        // Per-group series only for the groups asked for (RaftNodeOptions.GroupMetrics): none by default.
        _meter.CreateObservableGauge("raft.group.index", () => source.TaggedGroups().SelectMany(g => new[]
        {
            GroupMeasurement(g, g.First, "first"), GroupMeasurement(g, g.Last, "last"), GroupMeasurement(g, g.Commit, "commit"),
            GroupMeasurement(g, g.Applied, "applied"), GroupMeasurement(g, g.Snapshot, "snapshot"),
        }), "{entry}", "Per tagged group (RaftNodeOptions.GroupMetrics), its first, last, commit, applied and snapshot index (kind)");
        _meter.CreateObservableGauge("raft.group.term", () => source.TaggedGroups().Select(g => GroupMeasurement(g, g.Term, null)), "{term}",
            "Per tagged group, its term");
        _meter.CreateObservableGauge("raft.group.leader", () => source.TaggedGroups().Select(g => GroupMeasurement(g, g.Leader, null)), "{node}",
            "Per tagged group, the node it knows leads (0: none)");
        TransportCounter("raft.transport.frames.sent", "{frame}", "Frames written", s => s.FramesSent);
        TransportCounter("raft.transport.frames.received", "{frame}", "Frames read", s => s.FramesReceived);
        TransportCounter("raft.transport.bytes.sent", "By", "Bytes written, frame headers included", s => s.BytesSent);
        TransportCounter("raft.transport.bytes.received", "By", "Bytes of well-formed frames read", s => s.BytesReceived);
        // One instrument, a reason each: a drill's partition drops show beside real drops instead of hiding among them.
        _meter.CreateObservableCounter("raft.transport.messages.dropped", () =>
        {
            var s = source.Transport;
            var drops = DropCounts.Tags.Select(t => new Measurement<long>(s.Drops[t.Reason], _node, new("reason", t.Tag))).ToList();
            drops.Add(new Measurement<long>(s.Partitioned, _node, new("reason", "partitioned")));
            return drops;
        }, "{message}", "Messages not delivered, by reason: queue_full, unknown_peer, stopped, too_large, encode_failed, partitioned (a fault filter)");
        _meter.CreateObservableUpDownCounter("raft.transport.connections.open", () => new Measurement<long>(source.Transport.ConnectionsOpen, _node),
            "{connection}", "Connections that passed the handshake and are open (both directions)");
        _meter.CreateObservableCounter("raft.transport.connections.opened", () =>
        {
            var s = source.Transport;
            return new[]
            {
                new Measurement<long>(s.ConnectionsAccepted, _node, new("network.io.direction", "receive")),
                new Measurement<long>(s.ConnectionsDialed, _node, new("network.io.direction", "transmit")),
            };
        }, "{connection}", "Connections that passed the handshake, accepted (receive) or dialed (transmit)");
        PeerCounter("raft.transport.peer.frames", "{frame}", "Frames per peer, written (transmit) and read (receive)", p => p.FramesSent, p => p.FramesReceived);
        PeerCounter("raft.transport.peer.bytes", "By", "Bytes per peer, written (transmit) and read (receive), frame headers included", p => p.BytesSent, p => p.BytesReceived);
        _meter.CreateObservableCounter("raft.transport.peer.reconnects", () => PerPeer(p => p.Reconnects), "{connection}",
            "Per peer, connections re-established after one was lost");
        _meter.CreateObservableGauge("raft.transport.peer.queue.depth", () => PerPeer(p => p.Queued), "{message}",
            "Per peer, messages waiting in the send queue");
        _meter.CreateObservableGauge("raft.transport.peer.connected", () => PerPeer(p => p.Connected ? 1 : 0), "{connection}",
            "Per peer, 1 while a connection is up, else 0");
        TransportCounter("raft.transport.bad_frames", "{connection}", "Connections closed for a bad frame", s => s.BadFrames);
        // One instrument, a reason each: a probe with plaintext or a stolen certificate for another id is told apart
        // from a misconfigured cluster id without a second metric.
        _meter.CreateObservableCounter("raft.transport.handshakes.refused", () =>
        {
            var refusals = source.Transport.Refusals;
            return RefusalCounts.Tags.Select(t => new Measurement<long>(refusals[t.Reason], _node, new("reason", t.Tag))).ToArray();
        }, "{connection}", "Handshakes refused, by reason: handshake (another cluster, an unknown node), plaintext, certificate_missing, " +
           "certificate_untrusted, certificate_expired, certificate_identity, tls, cluster_secret");
        TransportCounter("raft.transport.reconnects", "{connection}", "Connections re-established after one was lost", s => s.Reconnects);

        void Gauge(string name, string unit, string description, Func<int> read) =>
            _meter.CreateObservableGauge(name, () => new Measurement<int>(read(), _node), unit, description);
        void TransportCounter(string name, string unit, string description, Func<TransportStats, long> read) =>
            _meter.CreateObservableCounter(name, () => new Measurement<long>(read(source.Transport), _node), unit, description);
        Measurement<long> GroupMeasurement(TaggedGroup g, long value, string? kind) => kind is null
            ? new(value, _node, new("raft.group", g.GroupId))
            : new(value, _node, new("raft.group", g.GroupId), new("kind", kind));
        IEnumerable<Measurement<long>> PerPeer(Func<PeerTransportStats, long> read) =>
            (source.Transport.Peers ?? []).Select(p => new Measurement<long>(read(p), _node, Peer(p.Peer)));
        void PeerCounter(string name, string unit, string description, Func<PeerTransportStats, long> sent, Func<PeerTransportStats, long> received) =>
            _meter.CreateObservableCounter(name, () => (source.Transport.Peers ?? []).SelectMany(p => new[]
            {
                new Measurement<long>(sent(p), _node, Peer(p.Peer), new("network.io.direction", "transmit")),
                new Measurement<long>(received(p), _node, Peer(p.Peer), new("network.io.direction", "receive")),
            }), unit, description);
    }

    /// <summary>A standalone set of instruments (no observable ones), e.g. for a custom host.</summary>
    public RaftMetrics(long nodeId, IMeterFactory? meterFactory = null) : this(nodeId, meterFactory, null) { }

    private Counter<long> Counter(string name, string unit, string description) => _meter.CreateCounter<long>(name, unit, description);

    private Histogram<double> Histogram(string name, string description) =>
        _meter.CreateHistogram<double>(name, "s", description, tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });

    private KeyValuePair<string, object?> Peer(long peer) => new("raft.peer", peer);

    // ---- proposals and requests --------------------------------------------------------------------------------

    internal void Proposed(int count) => _proposals.Add(count, _node);
    internal void Dropped(int count, DropReason reason) { if (_proposalsDropped.Enabled) _proposalsDropped.Add(count, _node, new("reason", ReasonName(reason))); }
    internal void Forwarded(int count) => _forwarded.Add(count, _node);
    internal void Applied(int count) => _applied.Add(count, _node);

    /// <summary>A proposal completed now: <paramref name="committed"/> is when its entry was handed to the state machine.</summary>
    internal void ProposalDone(long started, long committed)
    {
        if (_commitLatency.Enabled) _commitLatency.Record(Seconds(started, committed), _node);
        if (_applyLatency.Enabled) _applyLatency.Record(Seconds(started, Stopwatch.GetTimestamp()), _node);
    }

    /// <summary>A proposal made at <paramref name="started"/> is durable in this node's log now.</summary>
    internal void ProposalPersisted(long started)
    {
        if (_persistLatency.Enabled) _persistLatency.Record(Seconds(started, Stopwatch.GetTimestamp()), _node);
    }

    /// <summary>Whether anyone listens to the proposed-to-persisted histogram (saves walking the proposals when not).</summary>
    internal bool PersistLatencyEnabled => _persistLatency.Enabled;

    internal void ReadDone(long started, string result)
    {
        if (_reads.Enabled) _reads.Add(1, _node, new("result", result));
        if (_readLatency.Enabled && result == "served") _readLatency.Record(Seconds(started, Stopwatch.GetTimestamp()), _node);
    }

    internal void TransferDone(string result) { if (_transfers.Enabled) _transfers.Add(1, _node, new("result", result)); }
    internal void MembershipChangeDone(string result) { if (_membershipChanges.Enabled) _membershipChanges.Add(1, _node, new("result", result)); }

    // ---- elections ---------------------------------------------------------------------------------------------

    /// <summary>The role, term or leader of a group changed (from <paramref name="previous"/> to <paramref name="role"/>).</summary>
    internal void RoleChanged(RaftRole previous, RaftRole role)
    {
        _leaderChanges.Add(1, _node);
        if (previous == role) return;
        if (_roleTransitions.Enabled) _roleTransitions.Add(1, _node, new("raft.role", RoleName(role)), new("raft.role.previous", RoleName(previous)));
        switch (role)
        {
            case RaftRole.Candidate: _electionsStarted.Add(1, _node); break;
            case RaftRole.PreCandidate: _preVotesStarted.Add(1, _node); break;
            case RaftRole.Leader when previous == RaftRole.Candidate: _electionsWon.Add(1, _node); break;
            case RaftRole.Follower when previous == RaftRole.Candidate: _electionsLost.Add(1, _node); break;
        }
    }

    // ---- messages ----------------------------------------------------------------------------------------------

    /// <summary>A message the core sent (one tag check when nothing listens).</summary>
    internal void Sent<TCommand>(Message<TCommand> m)
    {
        switch (m.Body)
        {
            case MessageBody<TCommand>.AppendEntries a:
                if (_appendSent.Enabled) _appendSent.Add(1, _node, Peer(m.To));
                if (_entriesSent.Enabled && a.Item.Entries.Length > 0) _entriesSent.Add(a.Item.Entries.Length, _node, Peer(m.To));
                break;
            case MessageBody<TCommand>.Heartbeat:
                _heartbeatsSent.Add(1, _node);
                if (_roundTrip.Enabled) _roundTrips.HeartbeatSent(m.To, Stopwatch.GetTimestamp());
                break;
            case MessageBody<TCommand>.RequestVoteResponse v when !v.Item.PreVote:
                if (_votes.Enabled) _votes.Add(1, _node, new("result", v.Item.Granted ? "granted" : "denied"));
                break;
            case MessageBody<TCommand>.InstallSnapshot s:
                if (_chunksSent.Enabled) _chunksSent.Add(1, _node, Peer(m.To));
                if (_chunkBytesSent.Enabled) _chunkBytesSent.Add(s.Item.Data.Length, _node, Peer(m.To));
                break;
        }
    }

    /// <summary>A message a peer sent this node.</summary>
    internal void Received<TCommand>(Message<TCommand> m)
    {
        if (m.Body is MessageBody<TCommand>.AppendEntriesResponse { Item.Success: false } && _appendRejected.Enabled)
            _appendRejected.Add(1, _node, Peer(m.From), new("reason", "log_mismatch"));
        else if (m.Body.Tag == MessageBody<TCommand>.Tags.HeartbeatResponse && _roundTrip.Enabled
                 && _roundTrips.ResponseReceived(m.From, Stopwatch.GetTimestamp()) is { } seconds)
            _roundTrip.Record(seconds, _node, Peer(m.From));
    }

    internal void SendDropped(int count) => _sendDropped.Add(count, _node);

    // ---- log and snapshots -------------------------------------------------------------------------------------

    internal void Appended(int entries, long bytes, bool truncated)
    {
        _entriesAppended.Add(entries, _node);
        _bytesAppended.Add(bytes, _node);
        if (truncated) _truncations.Add(1, _node);
    }

    internal void Compacted() => _compactions.Add(1, _node);

    internal void SnapshotTaken(TimeSpan duration)
    {
        _snapshotsTaken.Add(1, _node);
        if (_snapshotDuration.Enabled) _snapshotDuration.Record(duration.TotalSeconds, _node);
    }

    internal void SnapshotInstalled() => _snapshotsInstalled.Add(1, _node);
    internal void SnapshotAbandoned() => _snapshotsAbandoned.Add(1, _node);

    // ---- durability --------------------------------------------------------------------------------------------

    internal void GroupCommitted(int items, TimeSpan duration)
    {
        _groupCommitRounds.Add(1, _node);
        _persistWrites.Add(items, _node);
        if (_groupCommit.Enabled) _groupCommit.Record(duration.TotalSeconds, _node);
    }

    internal void DataSynced(TimeSpan duration) { if (_dataSync.Enabled) _dataSync.Record(duration.TotalSeconds, _node); }

    internal void GroupFaulted() => _groupFaults.Add(1, _node);

    // ---- names -------------------------------------------------------------------------------------------------

    private static double Seconds(long from, long to) => (double)(to - from) / Stopwatch.Frequency;

    internal static string RoleName(RaftRole role) => role switch
    {
        RaftRole.Leader => "leader",
        RaftRole.Candidate => "candidate",
        RaftRole.PreCandidate => "pre_candidate",
        _ => "follower",
    };

    /// <summary>The <c>reason</c> tag of a drop: the reason's case in snake case, without its text (bounded cardinality).</summary>
    internal static string ReasonName(DropReason reason) => reason.Tag switch
    {
        DropReason.Tags.NotLeader => "not_leader",
        DropReason.Tags.TransferInProgress => "transfer_in_progress",
        DropReason.Tags.UncommittedLimit => "uncommitted_limit",
        DropReason.Tags.ConfigChangePending => "config_change_pending",
        DropReason.Tags.InvalidConfigChange => "invalid_config_change",
        DropReason.Tags.LeadershipLost => "leadership_lost",
        DropReason.Tags.InvalidTransfer => "invalid_transfer",
        DropReason.Tags.TransferAborted => "transfer_aborted",
        _ => "other",
    };

    public void Dispose()
    {
        if (_ownsMeter) _meter.Dispose();
    }
}

/// <summary>What a node's observable instruments read when a listener collects (any thread).</summary>
internal interface IMetricSource
{
    int Groups { get; }
    int Quiescent { get; }
    int Leading { get; }
    int LeaderKnown { get; }
    int Faulted { get; }
    long MaxTerm { get; }
    long MaxApplyLag { get; }
    /// <summary>Per peer, the largest lag over the groups this node leads, each measurement tagged with the node.</summary>
    IEnumerable<Measurement<long>> FollowerLag(KeyValuePair<string, object?> node);
    /// <summary>Per peer, how many of the groups this node leads flow control holds replication to it.</summary>
    IEnumerable<Measurement<long>> PausedPeers(KeyValuePair<string, object?> node);
    /// <summary>The groups with gauges of their own (<see cref="RaftNodeOptions.GroupMetrics"/>; none by default).</summary>
    IEnumerable<TaggedGroup> TaggedGroups();
    TransportStats Transport { get; }
}

/// <summary>One group's figures for its own gauges.</summary>
internal readonly record struct TaggedGroup(long GroupId, long Term, long Leader, long First, long Last, long Commit, long Applied, long Snapshot);
