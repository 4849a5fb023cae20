using Spectre.Console;
using Spectre.Console.Rendering;

namespace Raft.Tui;

/// <summary>Draws the model (the only Spectre.Console code besides the live loop): a headline naming the focused
/// group's leader, the nodes, the focused group on each node, the other groups' leaders, the action log and the keys.</summary>
public static class Screen
{
    /// <summary>How many other groups the groups line names.</summary>
    private const int GroupsShown = 12;

    public static IRenderable Render(ClusterModel model, TuiOptions options)
    {
        var group = model.FocusedGroup;
        var leader = group is { } g ? model.Leader(g) : null;
        var headline = group is null
            ? "[yellow]no node answers yet[/]"
            : leader is null
                ? $"group {group}: [red bold]no leader[/]"
                : $"group {group}: leader [green bold]{Markup.Escape(leader.Label)}[/] (term {leader.Group(group.Value)!.Term})";
        var live = model.Nodes.Count(n => n.Live);
        return new Rows(
            new Markup($"[bold]Raft chaos[/]  {model.Nodes.Count} nodes, {live} answering, polled every {options.Interval.TotalMilliseconds:0} ms   {headline}"),
            Nodes(model, group, leader),
            group is { } focused ? GroupTable(model, focused) : new Text(""),
            new Markup(GroupsLine(model)),
            LogPanel(model),
            new Markup($"[grey]{Markup.Escape(KeyMap.Help)}[/]"));
    }

    private static Table Nodes(ClusterModel model, long? group, NodeView? leader)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("nodes");
        foreach (var c in new[] { "", "node", "url", "state", "member", "groups", "leads", "role", "term" }) table.AddColumn(c);
        for (var i = 0; i < model.Nodes.Count; i++)
        {
            var n = model.Nodes[i];
            var groups = n.Snapshot?.Groups ?? [];
            var focused = group is { } g ? n.Group(g) : null;
            var isLeader = n == leader;
            var style = isLeader ? "green bold" : n.State == NodeState.Down ? "red" : n.State == NodeState.Paused ? "yellow" : "default";
            string Cell(string text) => $"[{style}]{Markup.Escape(text)}[/]";
            var member = n.Id is { } id ? model.IsMember(id) switch { true => "yes", false => "no", null => "?" } : "?";
            table.AddRow(
                i == model.Selected ? "[reverse]>[/]" : " ",
                Cell(n.Id?.ToString() ?? "?"),
                Cell(n.Url),
                Cell(ClusterModel.StateText(n.State) + (n.Error is { } e && n.State == NodeState.Down ? $" ({e})" : "")),
                Cell(member),
                Cell(n.Live ? groups.Count.ToString() : "-"),
                Cell(n.Live ? groups.Count(x => x.IsLeader).ToString() : "-"),
                Cell(focused?.Role + (isLeader ? " *" : "") ?? "-"),
                Cell(focused?.Term.ToString() ?? "-"));
        }
        return table;
    }

    private static Table GroupTable(ClusterModel model, long group)
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"group {group} (g: next group)");
        foreach (var c in new[] { "node", "role", "term", "leader", "commit", "applied", "first", "last", "snapshot", "lag" }) table.AddColumn(c);
        var leader = model.Leader(group);
        foreach (var n in model.Nodes)
        {
            if (n.Group(group) is not { } s)
            {
                table.AddRow(Markup.Escape(n.Label), n.Live ? "(not a member)" : ClusterModel.StateText(n.State), "", "", "", "", "", "", "", "");
                continue;
            }
            var style = n == leader ? "green bold" : n.State == NodeState.Paused ? "yellow" : "default";
            var cells = new[] { n.Label, s.Role, s.Term.ToString(), s.Leader == 0 ? "-" : s.Leader.ToString(), s.CommitIndex.ToString(),
                s.AppliedIndex.ToString(), s.FirstIndex.ToString(), s.LastIndex.ToString(), s.SnapshotIndex.ToString(), model.Lag(group, n)?.ToString() ?? "-" };
            table.AddRow(cells.Select(c => $"[{style}]{Markup.Escape(c)}[/]").ToArray());
        }
        return table;
    }

    private static string GroupsLine(ClusterModel model)
    {
        var groups = model.Groups;
        var shown = groups.Take(GroupsShown).Select(g => $"{g}→{model.Leader(g)?.Id.ToString() ?? "none"}");
        return Markup.Escape($"groups ({groups.Count}, leader of each): {string.Join("  ", shown)}{(groups.Count > GroupsShown ? "  …" : "")}");
    }

    private static Panel LogPanel(ClusterModel model)
    {
        var lines = model.Log.Select(l => $"[grey]{l.At:HH:mm:ss}[/] {(l.Failed ? "[red]" : "[default]")}{Markup.Escape(l.Text)}[/]").ToArray();
        return new Panel(new Markup(lines.Length == 0 ? "[grey](no actions yet)[/]" : string.Join("\n", lines))).Header("log").Expand();
    }
}
