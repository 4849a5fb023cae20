using Raft.Core;
using Raft.Serialization;

namespace Raft.Node;

/// <summary>
/// Multi-raft quiescence: a group that is idle and fully caught up stops being ticked on every node, so it sends no
/// heartbeats and costs no CPU. A node-level liveness ping (one tiny message per peer per heartbeat interval, whatever
/// the number of groups) replaces the per-group heartbeats: when a peer falls silent for an election timeout, the
/// groups it leads (on followers) or the groups it belongs to (on leaders) wake up and tick again, so elections and
/// CheckQuorum work as usual. Any proposal, read or non-heartbeat message wakes a group at once.
/// </summary>
public sealed partial class RaftNodeHost<TCommand, TResult>
{
    private int _quiescentCount;

    internal void WakeGroup(RaftGroup<TCommand, TResult> g)
    {
        g.LastActivityTick = _tick;
        if (!g.Quiescent) return;
        g.Quiescent = false;
        _awakeStale = true;
        _quiescentCount--;
        g.PublishStatus();
    }

    private bool Silent(long peer) => !_lastHeard.TryGetValue(peer, out var heard) || _tick - heard > Options.ElectionTicks;

    private void UpdateQuiescence()
    {
        if (_tick % Options.HeartbeatTicks == 0) SendLivenessPings();
        var quietTicks = 2L * Options.HeartbeatTicks + 2;
        // Only a silent peer can wake a quiescent group (a quiescent group has a leader and hears from it), so with
        // every peer heard from, the usual case, the awake groups are the only ones to look at.
        var anySilent = false;
        foreach (var peer in _lastHeard.Keys)
            if (Silent(peer)) { anySilent = true; break; }
        foreach (var g in anySilent ? _groupList : _awake)
        {
            if (g.Fault is not null) continue;
            var s = g.State;
            var leader = Core.Node.leader(s);
            if (g.Quiescent)
            {
                if (s.Role is Role.Leader ? AnySilent(g.Peers) : leader == 0 || Silent(leader)) WakeGroup(g);
                continue;
            }
            if (_tick - g.LastActivityTick < quietTicks || g.Incoming.Count > 0 || g.Awaiting.Count > 0 || g.Reads.Count > 0 || g.ReadyReads.Count > 0)
                continue;
            var last = Core.Node.lastIndex(s);
            if (Core.Node.commitIndex(s) != last || g.AppliedIndex != last) continue;
            if (s.Role is Role.Leader l)
            {
                var caughtUp = true;
                foreach (var kv in l.Item.Progress)
                    if (kv.Value.Match != last || Silent(kv.Key)) { caughtUp = false; break; }
                if (!caughtUp) continue;
            }
            else if (s.Role.IsFollower)
            {
                if (leader == 0 || Silent(leader)) continue;
            }
            else continue;
            CloseSnapshotSources(g); // a quiescent group does not tick, and no peer of it needs a snapshot now
            g.Quiescent = true;
            _awakeStale = true;
            _quiescentCount++;
            g.PublishStatus();
        }
    }

    private bool AnySilent(long[] peers)
    {
        foreach (var peer in peers)
            if (Silent(peer)) return true;
        return false;
    }

    /// <summary>One node-level ping per peer: group id -1 (reserved), a heartbeat body that no group sees.</summary>
    private void SendLivenessPings()
    {
        foreach (var peer in _lastHeard.Keys)
        {
            if (!_outbox.TryGetValue(peer, out var list)) _outbox[peer] = list = new List<RaftEnvelope<TCommand>>();
            if (list.Count == 0) _dirtyPeers.Add(peer);
            list.Add(new RaftEnvelope<TCommand>(-1, new Message<TCommand>(NodeId, peer, 0, MessageBody<TCommand>.NewHeartbeat(new HeartbeatRequest(0, 0)))));
        }
    }
}
