using System.Diagnostics.Metrics;

namespace Raft.Node;

/// <summary>The node host's instruments on the <c>Raft</c> meter (System.Diagnostics.Metrics), tagged with the node id.</summary>
public sealed class RaftMetrics : IDisposable
{
    /// <summary>The meter's name, for <c>AddMeter("Raft")</c> in OpenTelemetry or <c>dotnet-counters</c>.</summary>
    public const string MeterName = "Raft";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly KeyValuePair<string, object?> _node;
    private readonly Counter<long> _proposals, _proposalsDropped, _applied, _leaderChanges, _sendDropped, _persistBatches, _persistItems, _groupFaults, _forwarded;
    private readonly Histogram<double> _fsync;

    /// <param name="nodeId">Tag value of <c>raft.node</c>.</param>
    /// <param name="meterFactory">The DI meter factory, or null for a private meter.</param>
    /// <param name="groups">Observed: groups on the node.</param>
    /// <param name="quiescent">Observed: quiescent groups.</param>
    /// <param name="leaders">Observed: groups this node leads.</param>
    public RaftMetrics(long nodeId, IMeterFactory? meterFactory = null, Func<int>? groups = null, Func<int>? quiescent = null, Func<int>? leaders = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _ownsMeter = meterFactory is null;
        _node = new("raft.node", nodeId);
        _proposals = _meter.CreateCounter<long>("raft.proposals", "{command}", "Commands proposed on this node");
        _proposalsDropped = _meter.CreateCounter<long>("raft.proposals.dropped", "{command}", "Proposals refused (not leader, limits, ...)");
        _applied = _meter.CreateCounter<long>("raft.entries.applied", "{entry}", "Entries applied to state machines");
        _leaderChanges = _meter.CreateCounter<long>("raft.leader.changes", "{change}", "Role, term or leader changes");
        _sendDropped = _meter.CreateCounter<long>("raft.messages.dropped", "{message}", "Messages the transport refused");
        _persistBatches = _meter.CreateCounter<long>("raft.persist.batches", "{batch}", "Group-commit rounds");
        _persistItems = _meter.CreateCounter<long>("raft.persist.writes", "{write}", "Persist effects made durable");
        _groupFaults = _meter.CreateCounter<long>("raft.groups.faulted", "{group}", "Groups stopped by a failure");
        _forwarded = _meter.CreateCounter<long>("raft.proposals.forwarded", "{command}", "Proposals a follower sent to its leader");
        _fsync = _meter.CreateHistogram<double>("raft.persist.duration", "ms", "Duration of one group-commit round (hard state + log fsyncs)");
        if (groups is not null) _meter.CreateObservableGauge("raft.groups", () => new Measurement<int>(groups(), _node), "{group}");
        if (quiescent is not null) _meter.CreateObservableGauge("raft.groups.quiescent", () => new Measurement<int>(quiescent(), _node), "{group}");
        if (leaders is not null) _meter.CreateObservableGauge("raft.groups.leading", () => new Measurement<int>(leaders(), _node), "{group}");
    }

    internal void Proposed(int count) => _proposals.Add(count, _node);
    internal void Dropped(int count) => _proposalsDropped.Add(count, _node);
    internal void Applied(int count) => _applied.Add(count, _node);
    internal void LeaderChanged() => _leaderChanges.Add(1, _node);
    internal void SendDropped(int count) => _sendDropped.Add(count, _node);
    internal void GroupFaulted() => _groupFaults.Add(1, _node);
    internal void Forwarded(int count) => _forwarded.Add(count, _node);

    internal void PersistBatch(int items, TimeSpan duration)
    {
        _persistBatches.Add(1, _node);
        _persistItems.Add(items, _node);
        if (_fsync.Enabled) _fsync.Record(duration.TotalMilliseconds, _node);
    }

    public void Dispose()
    {
        if (_ownsMeter) _meter.Dispose();
    }
}
