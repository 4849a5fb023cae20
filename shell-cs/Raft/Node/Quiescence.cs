using Raft.Core;
using Raft.Serialization;

namespace Raft.Node;

/// <summary>
/// Multi-raft quiescence (loop thread only): a group that is idle and fully caught up stops being ticked on every
/// node, so it sends no heartbeats and costs no CPU. A node-level liveness ping (one tiny message per peer per
/// heartbeat interval, whatever the number of groups) replaces the per-group heartbeats: when a peer falls silent for
/// an election timeout, the groups it leads (on followers) or the groups it belongs to (on leaders) wake up and tick
/// again, so elections and CheckQuorum work as usual. Any proposal, read or non-heartbeat message wakes a group at once.
/// Also keeps the list of awake groups the loop ticks: with thousands of idle groups a tick then touches none of them.
/// </summary>
internal sealed class Quiescence<TCommand, TResult>(long nodeId, bool enabled, int heartbeatTicks, int electionTicks, Outbox<TCommand> outbox)
{
    private readonly Dictionary<long, long> _lastHeard = new();
    private readonly List<GroupRuntime<TCommand, TResult>> _awake = new();
    private bool _awakeStale = true;
    private readonly List<GroupRuntime<TCommand, TResult>> _orphaned = new();

    /// <summary>Followers the last <see cref="Update"/> woke because their leader fell silent: the loop hands each the
    /// ticks it missed while quiescent (<see cref="MissedTicks"/>), and clears the list.</summary>
    public List<GroupRuntime<TCommand, TResult>> Orphaned => _orphaned;

    /// <summary>The ticks a follower woken by its leader's silence missed: an election timeout has passed since the
    /// node last heard from the leader (that is what silent means), so its election timer is that far along, and only
    /// the random part of its timeout is left. Without them it would wait a whole randomized timeout more after the
    /// silence was noticed, so a dead leader's quiescent groups would take two to three election timeouts to elect.</summary>
    public int MissedTicks => electionTicks;

    /// <summary>Whether a quiescent follower's leader is unknown or silent (a message waking it then also catches it up).</summary>
    public bool LeaderSilent(GroupRuntime<TCommand, TResult> g, long tick) =>
        g.Quiescent && g.State.Role is not Role.Leader && Core.Node.leader(g.State) is var leader && (leader == 0 || Silent(leader, tick));

    /// <summary>Quiescent groups on this node.</summary>
    public int QuiescentCount { get; private set; }

    public void Heard(long peer, long tick) => _lastHeard[peer] = tick;

    public void Added(GroupRuntime<TCommand, TResult> g, long tick)
    {
        g.LastActivityTick = tick;
        foreach (var peer in g.Peers) _lastHeard.TryAdd(peer, tick);
        _awakeStale = true;
    }

    public void Removed(GroupRuntime<TCommand, TResult> g)
    {
        if (g.Quiescent) QuiescentCount--;
        _awakeStale = true;
    }

    /// <summary>The group did something (a proposal, a read, a message, an append): it stays awake, or wakes.</summary>
    public void Wake(GroupRuntime<TCommand, TResult> g, long tick)
    {
        g.LastActivityTick = tick;
        if (!g.Quiescent) return;
        g.Quiescent = false;
        _awakeStale = true;
        QuiescentCount--;
        g.PublishStatus();
    }

    /// <summary>The groups to tick: those not quiescent (rebuilt only when a group is added, removed, quiesced or woken).</summary>
    public List<GroupRuntime<TCommand, TResult>> Awake(List<GroupRuntime<TCommand, TResult>> all)
    {
        if (!_awakeStale) return _awake;
        _awake.Clear();
        foreach (var g in all)
            if (!g.Quiescent) _awake.Add(g);
        _awakeStale = false;
        return _awake;
    }

    private bool Silent(long peer, long tick) => !_lastHeard.TryGetValue(peer, out var heard) || tick - heard > electionTicks;

    /// <summary>After a tick: pings the peers, wakes quiescent groups whose peers fell silent, quiesces idle ones.</summary>
    public void Update(long tick, List<GroupRuntime<TCommand, TResult>> all)
    {
        if (!enabled) return;
        if (tick % heartbeatTicks == 0) SendLivenessPings();
        var quietTicks = 2L * heartbeatTicks + 2;
        // Only a silent peer can wake a quiescent group (a quiescent group has a leader and hears from it), so with
        // every peer heard from, the usual case, the awake groups are the only ones to look at.
        var anySilent = false;
        foreach (var peer in _lastHeard.Keys)
            if (Silent(peer, tick)) { anySilent = true; break; }
        foreach (var g in anySilent ? all : Awake(all))
        {
            if (g.Fault is not null) continue;
            var s = g.State;
            var leader = Core.Node.leader(s);
            if (g.Quiescent)
            {
                if (s.Role is Role.Leader)
                {
                    if (AnySilent(g.Peers, tick)) Wake(g, tick);
                }
                else if (leader == 0 || Silent(leader, tick))
                {
                    Wake(g, tick);
                    _orphaned.Add(g);
                }
                continue;
            }
            if (tick - g.LastActivityTick < quietTicks || !g.Requests.Idle) continue;
            var last = Core.Node.lastIndex(s);
            if (Core.Node.commitIndex(s) != last || g.AppliedIndex != last) continue;
            if (s.Role is Role.Leader l)
            {
                if (!Core.Node.peersCaughtUp(s)) continue;
                if (anySilent && AnyPeerSilent(l.Item, tick)) continue;
            }
            else if (s.Role.IsFollower)
            {
                if (leader == 0 || Silent(leader, tick)) continue;
            }
            else continue;
            g.Sources.CloseAll(); // a quiescent group does not tick, and no peer of it needs a snapshot now
            g.Quiescent = true;
            _awakeStale = true;
            QuiescentCount++;
            g.PublishStatus();
        }
    }

    /// <summary>A replication peer of the leader fell silent (looked at only when some peer did).</summary>
    private bool AnyPeerSilent(LeaderState leader, long tick)
    {
        foreach (var kv in leader.Progress)
            if (Silent(kv.Key, tick)) return true;
        return false;
    }

    private bool AnySilent(long[] peers, long tick)
    {
        foreach (var peer in peers)
            if (Silent(peer, tick)) return true;
        return false;
    }

    /// <summary>One node-level ping per peer: group id -1 (reserved), a heartbeat body that no group sees.</summary>
    private void SendLivenessPings()
    {
        foreach (var peer in _lastHeard.Keys)
            outbox.Add(peer, new RaftEnvelope<TCommand>(-1, new Message<TCommand>(nodeId, peer, 0, MessageBody<TCommand>.NewHeartbeat(new HeartbeatRequest(0, 0)))));
    }
}
