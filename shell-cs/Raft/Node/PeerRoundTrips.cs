using System.Diagnostics;

namespace Raft.Node;

/// <summary>
/// Estimates each peer's round-trip time from heartbeats (loop thread only): the first heartbeat to a peer with
/// none outstanding starts a probe, the next heartbeat response from that peer (of any group) ends it. Heartbeats of
/// many groups to one peer travel in the same batch, so the first answer is a fair sample; a probe older than
/// <see cref="Abandon"/> (its heartbeat or answer was lost) is restarted instead of measured, so a loss does not
/// show as a slow round trip.
/// </summary>
internal sealed class PeerRoundTrips
{
    /// <summary>A probe unanswered for this long is restarted by the next heartbeat.</summary>
    internal static readonly long Abandon = Stopwatch.Frequency * 2;

    private readonly Dictionary<long, long> _probes = new();

    /// <summary>A heartbeat leaves for <paramref name="peer"/> at <paramref name="now"/> (Stopwatch ticks).</summary>
    public void HeartbeatSent(long peer, long now)
    {
        if (_probes.TryGetValue(peer, out var started) && now - started < Abandon) return;
        _probes[peer] = now;
    }

    /// <summary>A heartbeat response from <paramref name="peer"/> arrived at <paramref name="now"/>: the round trip in
    /// seconds when it ends a probe, else null.</summary>
    public double? ResponseReceived(long peer, long now)
    {
        if (!_probes.Remove(peer, out var started) || now - started >= Abandon) return null;
        return (double)(now - started) / Stopwatch.Frequency;
    }
}
