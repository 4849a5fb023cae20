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
        _quiescentCount--;
        g.PublishStatus();
    }

    private bool Silent(long peer) => !_lastHeard.TryGetValue(peer, out var heard) || _tick - heard > Options.ElectionTicks;

    private void UpdateQuiescence()
    {
        if (_tick % Options.HeartbeatTicks == 0) SendLivenessPings();
        var quietTicks = 2L * Options.HeartbeatTicks + 2;
        foreach (var g in _groupList)
        {
            if (g.Fault is not null) continue;
            var s = g.State;
            var leader = Core.Node.leader(s);
            if (g.Quiescent)
            {
                var wake = s.Role is Role.Leader ? g.Peers.Any(Silent) : leader == 0 || Silent(leader);
                if (wake) WakeGroup(g);
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
            g.Quiescent = true;
            _quiescentCount++;
            g.PublishStatus();
        }
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
