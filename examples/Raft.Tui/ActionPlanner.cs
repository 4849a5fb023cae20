using System.Text.Json;

namespace Raft.Tui;

/// <summary>
/// Turns a chaos command into the requests and commands that carry it out, from what the model knows: which node is
/// selected, who leads the focused group, who is down, the member records. Pure: the executor runs the plan.
/// </summary>
public static class ActionPlanner
{
    /// <summary>The plan of <paramref name="command"/> (one of the chaos commands; the view commands are the loop's).</summary>
    public static ChaosPlan Plan(TuiCommand command, ClusterModel model, TuiOptions options) => command switch
    {
        TuiCommand.KillLeader => KillLeader(model),
        TuiCommand.Pause => OnSelected(model, "pause", "pause"),
        TuiCommand.Resume => OnSelected(model, "resume", "resume"),
        TuiCommand.Heal => OnSelected(model, "heal", "heal"),
        TuiCommand.Reset => OnSelected(model, "reset", "reset"),
        TuiCommand.Partition => Partition(model),
        TuiCommand.HealAll => OnEveryLive(model, "heal all", "heal"),
        TuiCommand.Rebalance => OnEveryLive(model, "rebalance", "rebalance"),
        TuiCommand.StartNode => StartNode(model, options),
        TuiCommand.JoinNode => JoinNode(model, options),
        TuiCommand.AddMember => AddMember(model),
        TuiCommand.RemoveMember => RemoveMember(model),
        TuiCommand.TransferLeader => TransferLeader(model),
        _ => ChaosPlan.Refuse(command.ToString(), "not a chaos command"),
    };

    private static string Admin(NodeView node, string pathAndQuery) => $"{node.Url}/admin/{pathAndQuery}";

    private static ChaosPlan KillLeader(ClusterModel model)
    {
        if (model.FocusedGroup is not { } group) return ChaosPlan.Refuse("kill leader", "no node answers");
        if (model.Leader(group) is not { } leader) return ChaosPlan.Refuse("kill leader", $"group {group} has no leader now");
        return new ChaosPlan($"kill {leader.Label} (leader of group {group})", [new HttpStep(HttpMethod.Post, Admin(leader, "kill"))]);
    }

    private static ChaosPlan OnSelected(ClusterModel model, string verb, string path)
    {
        var node = model.SelectedNode;
        var title = $"{verb} {node.Label}";
        return node.Live ? new ChaosPlan(title, [new HttpStep(HttpMethod.Post, Admin(node, path))]) : ChaosPlan.Refuse(title, $"{node.Label} is {ClusterModel.StateText(node.State)}");
    }

    private static ChaosPlan OnEveryLive(ClusterModel model, string title, string path)
    {
        var live = model.Nodes.Where(n => n.Live).ToArray();
        return live.Length == 0
            ? ChaosPlan.Refuse(title, "no node answers")
            : new ChaosPlan(title, live.Select(n => (ChaosStep)new HttpStep(HttpMethod.Post, Admin(n, path))).ToArray(), Independent: true);
    }

    private static ChaosPlan Partition(ClusterModel model)
    {
        var node = model.SelectedNode;
        var title = $"partition {node.Label}";
        if (!node.Live || node.Id is not { } self) return ChaosPlan.Refuse(title, $"{node.Label} is {ClusterModel.StateText(node.State)}");
        var peers = model.Nodes.Select(n => n.Id ?? 0).Concat(model.Members?.Select(m => m.Id) ?? [])
            .Where(id => id > 0 && id != self).Distinct().Order().ToArray();
        if (peers.Length == 0) return ChaosPlan.Refuse(title, "no other node is known");
        return new ChaosPlan($"{title} from {string.Join(",", peers)}", [new HttpStep(HttpMethod.Post, Admin(node, $"partition?peers={string.Join(",", peers)}"))]);
    }

    private static ChaosPlan StartNode(ClusterModel model, TuiOptions options)
    {
        var down = model.SelectedNode.State == NodeState.Down ? model.SelectedNode : model.Nodes.FirstOrDefault(n => n.State == NodeState.Down);
        if (down is null) return ChaosPlan.Refuse("start node", "no node is down");
        var title = $"start {down.Label}";
        if (options.StartCommand is not { } start) return ChaosPlan.Refuse(title, "no --start command was given");
        var id = down.Id ?? model.Nodes.ToList().IndexOf(down) + 1;
        return new ChaosPlan(title, [new RunStep(start.Replace("{id}", id.ToString()))]);
    }

    private static ChaosPlan JoinNode(ClusterModel model, TuiOptions options)
    {
        var id = model.HighestId + 1;
        var title = $"join node {id}";
        if (options.JoinCommand is not { } join) return ChaosPlan.Refuse(title, "no --join command was given");
        if (NewMember(model, id) is not { } member) return ChaosPlan.Refuse(title, "its addresses cannot be told from the members' (port = base + id)");
        if (Via(model, id) is not { } via) return ChaosPlan.Refuse(title, "no member answers");
        return new ChaosPlan(title, [new RunStep(join.Replace("{id}", id.ToString())), new WatchStep(member.ApiUrl!), AddStep(via, member)]);
    }

    private static ChaosPlan AddMember(ClusterModel model)
    {
        var node = model.SelectedNode;
        var title = $"add {node.Label} to the members";
        if (node.Id is not { } id) return ChaosPlan.Refuse(title, "its id is not known yet");
        if (model.IsMember(id) == true) return ChaosPlan.Refuse(title, "it is a member");
        if ((model.KnownMember(id) ?? NewMember(model, id)) is not { } member) return ChaosPlan.Refuse(title, "its Raft endpoint is not known");
        if (Via(model, id) is not { } via) return ChaosPlan.Refuse(title, "no other node answers");
        return new ChaosPlan(title, [AddStep(via, member)]);
    }

    private static ChaosPlan RemoveMember(ClusterModel model)
    {
        var node = model.SelectedNode;
        var title = $"remove {node.Label} from the members";
        if (node.Id is not { } id) return ChaosPlan.Refuse(title, "its id is not known yet");
        if (model.IsMember(id) == false) return ChaosPlan.Refuse(title, "it is not a member");
        if (Via(model, id) is not { } via) return ChaosPlan.Refuse(title, "no other node answers");
        return new ChaosPlan(title, [new HttpStep(HttpMethod.Delete, Admin(via, $"members/{id}"))]);
    }

    private static ChaosPlan TransferLeader(ClusterModel model)
    {
        if (model.FocusedGroup is not { } group) return ChaosPlan.Refuse("transfer leader", "no node answers");
        if (model.Leader(group) is not { Id: { } from } leader) return ChaosPlan.Refuse("transfer leader", $"group {group} has no leader now");
        var nodes = model.Nodes.ToList();
        var selected = model.SelectedNode;
        // The selected node, unless it leads already: then the next live node holding the group after it.
        var target = selected != leader && selected.Live && selected.Group(group) is not null
            ? selected
            : Enumerable.Range(1, nodes.Count).Select(k => nodes[(nodes.IndexOf(leader) + k) % nodes.Count])
                .FirstOrDefault(n => n != leader && n.Live && n.Group(group) is not null);
        if (target?.Id is not { } to) return ChaosPlan.Refuse("transfer leader", $"no other live node holds group {group}");
        return new ChaosPlan($"transfer group {group} from node {from} to node {to}",
            [new HttpStep(HttpMethod.Post, Admin(leader, $"transfer-leader?group={group}&to={to}"))]);
    }

    /// <summary>A live node other than <paramref name="id"/> to send a membership change to: the directory's leader
    /// (the lowest group's) when it answers, else any.</summary>
    private static NodeView? Via(ClusterModel model, long id)
    {
        var live = model.Nodes.Where(n => n.Live && n.Id != id).ToArray();
        var directoryLeader = model.Groups.Count > 0 ? model.Leader(model.Groups[0]) : null;
        return live.FirstOrDefault(n => n == directoryLeader) ?? live.FirstOrDefault();
    }

    private static HttpStep AddStep(NodeView via, MemberInfo member) =>
        new(HttpMethod.Post, Admin(via, "members"),
            JsonSerializer.Serialize(new { id = member.Id, raftEndpoint = member.RaftEndpoint, apiUrl = member.ApiUrl }));

    /// <summary>The record of a node not yet seen as a member, when the members' ports follow one layout (port = base + id,
    /// the cluster scripts' layout) on one host: both its HTTP and its Raft port.</summary>
    public static MemberInfo? NewMember(ClusterModel model, long id)
    {
        var members = model.Members?.Where(m => m.ApiUrl is not null).ToArray() ?? [];
        if (members.Length == 0) return null;
        var raft = members.Select(m => Split(m.RaftEndpoint)).ToArray();
        var api = members.Select(m => Uri.TryCreate(m.ApiUrl, UriKind.Absolute, out var u) ? (u.Scheme + "://" + u.Host, u.Port) : (null, -1)).ToArray();
        if (raft.Any(r => r.Host is null) || api.Any(a => a.Item1 is null)) return null;
        long? Base(IEnumerable<(string? Host, int Port)> ends)
        {
            var bases = ends.Zip(members, (e, m) => (e.Host, Base: e.Port - m.Id)).Distinct().ToArray();
            return bases.Length == 1 ? bases[0].Base : null;
        }
        if (Base(raft) is not { } raftBase || Base(api) is not { } apiBase) return null;
        return new MemberInfo(id, $"{raft[0].Host}:{raftBase + id}", $"{api[0].Item1}:{apiBase + id}");
    }

    private static (string? Host, int Port) Split(string endpoint)
    {
        var colon = endpoint.LastIndexOf(':');
        return colon > 0 && int.TryParse(endpoint[(colon + 1)..], out var port) ? (endpoint[..colon], port) : (null, -1);
    }
}
