namespace Raft.Tui;

/// <summary>What the last poll of a node said.</summary>
public enum NodeState
{
    /// <summary>Not polled yet.</summary>
    Unknown,
    /// <summary>Answered <c>/raft/status</c>.</summary>
    Up,
    /// <summary>Answered, and reports itself paused (<c>/admin/pause</c>).</summary>
    Paused,
    /// <summary>Did not answer (refused, timed out, or not a status document).</summary>
    Down,
}

/// <summary>One member record of the cluster's directory (<c>GET /admin/members</c>).</summary>
public sealed record MemberInfo(long Id, string RaftEndpoint, string? ApiUrl);

/// <summary>One line of the action log.</summary>
public sealed record LogLine(DateTimeOffset At, string Text, bool Failed);

/// <summary>One polled node: its URL, and what it last said.</summary>
public sealed class NodeView(string url)
{
    /// <summary>The HTTP base URL polled.</summary>
    public string Url { get; } = url.TrimEnd('/');
    /// <summary>The node id its status last gave (kept while it is down).</summary>
    public long? Id { get; internal set; }
    public NodeState State { get; internal set; } = NodeState.Unknown;
    /// <summary>Its last status while it answers; null once it is down (a dead node's view is stale).</summary>
    public NodeSnapshot? Snapshot { get; internal set; }
    /// <summary>Why the last poll failed.</summary>
    public string? Error { get; internal set; }
    /// <summary>Answers the status endpoint (paused counts: it answers, but does not step).</summary>
    public bool Live => State is NodeState.Up or NodeState.Paused;
    /// <summary>How the screen and the log name it.</summary>
    public string Label => Id is { } id ? $"node {id}" : Url;

    public GroupSnapshot? Group(long groupId) => Snapshot?.Groups.FirstOrDefault(g => g.GroupId == groupId);
}

/// <summary>
/// The state the terminal UI draws: the polled nodes with their last answers, the selected node and the focused group,
/// the cluster's member records, and the action log. Changed only by the UI's loop (polls and keys); no terminal and no
/// HTTP here, so it is tested as plain data.
/// </summary>
public sealed class ClusterModel
{
    /// <summary>How many log lines are kept.</summary>
    public const int LogCapacity = 12;

    private readonly List<NodeView> _nodes = [];
    private readonly List<LogLine> _log = [];
    private readonly Dictionary<long, MemberInfo> _knownMembers = [];
    private readonly Dictionary<long, long> _lastLeader = [];
    private readonly TimeProvider _time;
    private long? _focusGroup;

    public ClusterModel(IEnumerable<string> urls, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        foreach (var url in urls) AddNode(url);
    }

    public IReadOnlyList<NodeView> Nodes => _nodes;
    /// <summary>The index of the selected node in <see cref="Nodes"/>.</summary>
    public int Selected { get; private set; }
    public NodeView SelectedNode => _nodes[Selected];
    public IReadOnlyList<LogLine> Log => _log;
    /// <summary>The directory's members at the last look (null before any); each record ever seen stays in <see cref="KnownMember"/>.</summary>
    public IReadOnlyList<MemberInfo>? Members { get; private set; }

    /// <summary>Starts polling <paramref name="url"/> too (a node joining); false when it is polled already.</summary>
    public bool AddNode(string url)
    {
        var trimmed = url.TrimEnd('/');
        if (_nodes.Any(n => n.Url == trimmed)) return false;
        _nodes.Add(new NodeView(trimmed));
        return true;
    }

    /// <summary>Node <paramref name="index"/> answered <paramref name="snapshot"/>.</summary>
    public void Observe(int index, NodeSnapshot snapshot)
    {
        var node = _nodes[index];
        var state = snapshot.Paused ? NodeState.Paused : NodeState.Up;
        node.Id = snapshot.NodeId;
        if (node.State != state && node.State != NodeState.Unknown) AddLog($"{node.Label} is {StateText(state)}");
        node.State = state;
        node.Snapshot = snapshot;
        node.Error = null;
    }

    /// <summary>Node <paramref name="index"/> did not answer (<paramref name="error"/> says why).</summary>
    public void ObserveDown(int index, string error)
    {
        var node = _nodes[index];
        if (node.State != NodeState.Down) AddLog($"{node.Label} is down ({error})", node.State != NodeState.Unknown);
        node.State = NodeState.Down;
        node.Snapshot = null;
        node.Error = error;
    }

    /// <summary>The directory's member list, as a node answered it.</summary>
    public void ObserveMembers(IReadOnlyList<MemberInfo> members)
    {
        Members = members;
        foreach (var m in members) _knownMembers[m.Id] = m;
    }

    /// <summary>A member record seen at any time (a removed node's, to add it back).</summary>
    public MemberInfo? KnownMember(long id) => _knownMembers.GetValueOrDefault(id);

    /// <summary>Whether node <paramref name="id"/> is in the last member list (null when none was read).</summary>
    public bool? IsMember(long id) => Members?.Any(m => m.Id == id);

    /// <summary>Ends a poll round: a change of the focused group's leader goes to the log.</summary>
    public void EndPollRound()
    {
        if (FocusedGroup is not { } group) return;
        var leader = Leader(group)?.Id ?? 0;
        if (_lastLeader.TryGetValue(group, out var before) && before == leader) return;
        _lastLeader[group] = leader;
        AddLog(leader == 0 ? $"group {group}: no leader" : $"group {group}: node {leader} leads (term {Leader(group)!.Group(group)!.Term})");
    }

    public void MoveSelection(int delta) => Selected = ((Selected + delta) % _nodes.Count + _nodes.Count) % _nodes.Count;

    /// <summary>Selects the node whose id is <paramref name="id"/>, else the <paramref name="id"/>-th node; false when neither exists.</summary>
    public bool SelectId(long id)
    {
        var index = _nodes.FindIndex(n => n.Id == id);
        if (index < 0 && id >= 1 && id <= _nodes.Count && _nodes[(int)id - 1].Id is null) index = (int)id - 1;
        if (index < 0) return false;
        Selected = index;
        return true;
    }

    /// <summary>Every group id a live node holds, ascending.</summary>
    public IReadOnlyList<long> Groups =>
        _nodes.Where(n => n.Live).SelectMany(n => n.Snapshot!.Groups.Select(g => g.GroupId)).Distinct().Order().ToArray();

    /// <summary>The group the table details and the leader keys act on: the one chosen with <c>g</c>, else the lowest
    /// (the key-value server's directory, group 0); null while no node answered.</summary>
    public long? FocusedGroup => _focusGroup is { } g && Groups.Contains(g) ? g : Groups.Count > 0 ? Groups[0] : null;

    /// <summary>Focuses the next group (wrapping).</summary>
    public void NextGroup()
    {
        var groups = Groups;
        if (groups.Count == 0) return;
        var at = FocusedGroup is { } g ? groups.ToList().IndexOf(g) : -1;
        _focusGroup = groups[(at + 1) % groups.Count];
    }

    /// <summary>The leader of <paramref name="groupId"/>: of the live nodes that say they lead it, the one of the highest
    /// term (a resumed or partitioned old leader may still say so in its older term); null when none does.</summary>
    public NodeView? Leader(long groupId) =>
        _nodes.Where(n => n.Live && n.Group(groupId) is { IsLeader: true })
            .OrderByDescending(n => n.Group(groupId)!.Term).FirstOrDefault();

    /// <summary>How far <paramref name="node"/> trails the leader of <paramref name="groupId"/> (the leader's last index
    /// minus the node's match, as the leader reports it): 0 on the leader, null when unknown.</summary>
    public long? Lag(long groupId, NodeView node)
    {
        if (Leader(groupId) is not { } leader || node.Id is not { } id) return null;
        if (ReferenceEquals(leader, node)) return 0;
        return leader.Group(groupId)!.Replicas.TryGetValue(id, out var lag) ? lag : null;
    }

    /// <summary>The highest node id known (polled or a member), 0 when none.</summary>
    public long HighestId =>
        _nodes.Select(n => n.Id ?? 0).Concat(_knownMembers.Keys).DefaultIfEmpty(0).Max();

    public void AddLog(string text, bool failed = false)
    {
        _log.Add(new LogLine(_time.GetUtcNow(), text, failed));
        if (_log.Count > LogCapacity) _log.RemoveAt(0);
    }

    /// <summary>The word the screen and the log show for a state.</summary>
    public static string StateText(NodeState state) => state switch
    {
        NodeState.Up => "up",
        NodeState.Paused => "paused",
        NodeState.Down => "down",
        _ => "unknown",
    };
}
