using Raft.Core;

namespace Raft.ReferenceHost;

/// <summary>One node as its host sees it: the core's state, its "disk" (a log and a hard state) and what it applied.</summary>
public sealed class MemoryNode(long id, State<string> state)
{
    /// <summary>The node's id (1, 2 or 3).</summary>
    public long Id { get; } = id;
    /// <summary>The core's state; replaced by every step, never changed by the host.</summary>
    public State<string> State { get; internal set; } = state;
    /// <summary>The durable log: <c>Log[i]</c> holds index i + 1 (snapshots are off, so nothing is ever compacted).</summary>
    public List<Entry<string>> Log { get; } = [];
    /// <summary>The last hard state written (term, vote, commit, configuration); null before the first.</summary>
    public HardState? HardState { get; internal set; }
    /// <summary>The commands this node's state machine applied, in order.</summary>
    public List<string> Applied { get; } = [];
    /// <summary>Whether the last RoleChanged effect said this node leads.</summary>
    public bool IsLeader { get; internal set; }
    /// <summary>Completions (Persisted, Applied, EntriesLoaded) waiting to be fed back to the core.</summary>
    internal readonly Queue<Input<string>> Feedback = new();
}

/// <summary>Drives three core nodes with in-memory storage and an in-memory network, in logical ticks.</summary>
public static class ReferenceHost
{
    /// <summary>Proposes <paramref name="commands"/> one per tick to the leader and ticks until every node applied
    /// all of them and a ReadIndex was served; throws TimeoutException after <paramref name="maxTicks"/> ticks.</summary>
    public static IReadOnlyList<MemoryNode> Run(IReadOnlyList<string> commands, TextWriter output, int maxTicks = 1000)
    {
        long[] voters = [1, 2, 3];
        // RaftOptions defaults: SnapshotEntries = SnapshotLogBytes = 0, so the core never asks for a snapshot, and
        // without one no peer is ever sent a snapshot: SaveSnapshot, CompactLog and ReadSnapshotChunk cannot occur.
        var nodes = voters.Select(id => new MemoryNode(id, RaftNode.Bootstrap<string>(RaftOptionsModule.defaults(id), voters))).ToArray();
        var network = new Queue<Message<string>>();
        var unproposed = new Queue<string>(commands);
        var proposed = new Dictionary<long, string>();
        long nextTag = 0;
        long readAt = -1;
        var readPending = false;

        // The host's whole job: interpret each effect of one step, in the order the core listed them. The order is
        // meaningful: a Persist that truncates must land before a later Persist appends over it, an Apply must run
        // before the ReadReady that counts on it, and a Send may carry entries the Persist before it just appended.
        void Interpret(MemoryNode n, Effect<string> effect)
        {
            switch (effect)
            {
                case Effect<string>.Persist p:
                    var w = p.Item;
                    if (w.Snapshot.IsSome) throw new InvalidOperationException("snapshots are off; no chunk can arrive");
                    // Entries first, then the hard state: the hard state's commit index may count on these entries,
                    // so it must never be durable without them (a crash in between leaves harmless extra entries).
                    if (w.Entries.Length > 0)
                    {
                        // An append at an index already present replaces everything from there: those entries came
                        // from an old leader and conflict with the new one's (Log Matching, §5.3).
                        var first = (int)w.Entries[0].Index;
                        if (first > n.Log.Count + 1) throw new InvalidOperationException($"node {n.Id}: gap before index {first}");
                        n.Log.RemoveRange(first - 1, n.Log.Count - (first - 1));
                        n.Log.AddRange(w.Entries);
                    }
                    if (w.HardState.IsSome) n.HardState = w.HardState.Value;
                    // Only now may votes and acknowledgements leave: each promises durable state. A vote sent
                    // before its hard state is durable can be forgotten in a crash and cast again (two leaders in
                    // one term); an ack counted towards commit for entries a crash loses breaks committed = safe.
                    foreach (var m in w.ThenSend) network.Enqueue(m);
                    // Persisted tells the core these entries are durable: a leader counts itself in the quorum only
                    // then. Queued, not stepped now: stepping mid-list would run new effects before the rest of these.
                    if (w.Entries.Length > 0)
                        n.Feedback.Enqueue(Input<string>.NewPersisted(new LogPosition(w.Entries[^1].Index, w.Entries[^1].Term)));
                    break;
                case Effect<string>.Send s:
                    // Safe at once: a leader's AppendEntries need not wait for its own write (it counts itself later).
                    network.Enqueue(s.Item);
                    break;
                case Effect<string>.Apply a:
                    foreach (var e in a.Item)
                        if (e.Payload is Payload<string>.Command c) n.Applied.Add(c.Item);  // Noop and Config change no state
                    // Reads wait for Applied: a ReadReady comes only once the state machine holds the read index.
                    if (a.Item.Length > 0) n.Feedback.Enqueue(Input<string>.NewApplied(a.Item[^1].Index));
                    break;
                case Effect<string>.LoadEntries l:
                    // Entries older than the core's in-memory window, read back from the log (never compacted here).
                    var loaded = n.Log.Skip((int)l.from - 1).Take((int)(l.upTo - l.from + 1)).ToArray();
                    n.Feedback.Enqueue(Input<string>.NewEntriesLoaded(new LoadedEntries<string>(l.purpose, loaded, false)));
                    break;
                case Effect<string>.ProposalAccepted pa:
                    output.WriteLine($"node {n.Id} appended \"{proposed[pa.tag]}\" at index {pa.firstIndex} in term {pa.term}");
                    proposed.Remove(pa.tag);
                    break;
                case Effect<string>.ProposalDropped pd:
                    // Not appended anywhere, so proposing it again cannot apply it twice.
                    output.WriteLine($"node {n.Id} dropped \"{proposed[pd.tag]}\": {pd.reason} (leader hint {pd.leader})");
                    unproposed.Enqueue(proposed[pd.tag]);
                    proposed.Remove(pd.tag);
                    break;
                case Effect<string>.ReadReady rr:
                    // Linearizable: this node has applied at least rr.index, so its state machine may answer now.
                    output.WriteLine($"node {n.Id} serves a read at index {rr.index}: {n.Applied.Count} commands applied");
                    readAt = rr.index;
                    break;
                case Effect<string>.ReadDropped rd:
                    output.WriteLine($"node {n.Id} dropped a read: {rd.reason}");
                    readPending = false;  // asked again on the next tick
                    break;
                case Effect<string>.TransferDropped td:
                    output.WriteLine($"node {n.Id} dropped a transfer to {td.target}: {td.reason}");
                    break;
                case Effect<string>.RoleChanged rc:
                    n.IsLeader = rc.role.IsLeaderRole;
                    output.WriteLine($"node {n.Id} is {rc.role} in term {rc.term} (leader {rc.leader})");
                    break;
                case Effect<string>.SaveSnapshot or Effect<string>.CompactLog or Effect<string>.ReadSnapshotChunk:
                    throw new InvalidOperationException($"snapshots are off, yet the core asked for {effect}");
                default:
                    // A new kind of effect is a new duty of the host: failing loudly beats ignoring it.
                    throw new NotSupportedException($"node {n.Id}: unknown effect {effect}");
            }
        }

        // One input, then every completion it causes, each stepped only after the previous list is fully carried out.
        void Step(MemoryNode n, Input<string> input)
        {
            n.Feedback.Enqueue(input);
            while (n.Feedback.TryDequeue(out var next))
            {
                var (state, effects) = RaftNode.Step(n.State, next);
                n.State = state;
                foreach (var effect in effects) Interpret(n, effect);
            }
        }

        for (var tick = 1; tick <= maxTicks; tick++)
        {
            foreach (var n in nodes) Step(n, Input<string>.Tick);
            var leader = nodes.FirstOrDefault(n => n.IsLeader);
            if (leader is not null && unproposed.TryDequeue(out var command))
            {
                proposed[++nextTag] = command;
                Step(leader, Input<string>.NewPropose(new Proposal<string>(nextTag, [(command, command.Length)])));
            }
            var allApplied = nodes.All(n => n.Applied.Count == commands.Count);
            if (leader is not null && allApplied && readAt < 0 && !readPending)
            {
                readPending = true;
                Step(leader, Input<string>.NewReadIndex(++nextTag));
            }
            // A perfect network: every message arrives, in the order sent, within the tick it was sent in.
            while (network.TryDequeue(out var m)) Step(nodes[(int)m.To - 1], Input<string>.NewReceive(m));
            if (allApplied && readAt >= 0)
            {
                output.WriteLine($"done after {tick} ticks");
                return nodes;
            }
        }
        throw new TimeoutException($"not every node applied all {commands.Count} commands within {maxTicks} ticks");
    }
}
