using System.Text.Json;

namespace Raft.Observability.Tests;

/// <summary>One query of one dashboard panel.</summary>
internal sealed record PanelQuery(string Dashboard, string Panel, string Expr)
{
    public override string ToString() => $"{Dashboard} / {Panel}: {Expr}";
}

/// <summary>Reads the Grafana dashboards in dashboards/ and checks their shape.</summary>
internal static class Dashboards
{
    /// <summary>What Grafana puts in place of its built-in and our template variables when it runs a query.</summary>
    private static readonly (string Name, string Value)[] Substitutions =
    [
        ("${node}", ".*"), ("$node", ".*"), ("$__rate_interval", "1m"), ("$__interval", "5s"), ("$__range", "5m"),
    ];

    public static string Directory => Path.Combine(Support.RepositoryRoot, "dashboards");

    /// <summary>Every target's expression of every panel (rows' nested panels too), with the variables substituted;
    /// throws when the file is not dashboard JSON as Grafana imports it.</summary>
    public static IReadOnlyList<PanelQuery> Queries(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Directory, file)));
        var root = doc.RootElement;
        var title = Require(root, "title", file).GetString()!;
        Check(Require(root, "schemaVersion", file).GetInt32() >= 36, $"{file}: schemaVersion below 36");
        Check(Require(root, "uid", file).GetString() is { Length: > 0 and <= 40 }, $"{file}: uid missing or longer than 40");
        var variables = Require(Require(root, "templating", file), "list", file).EnumerateArray().ToList();
        Check(variables.Any(v => v.GetProperty("type").GetString() == "datasource"
                                 && v.GetProperty("query").GetString() == "prometheus"), $"{file}: no Prometheus datasource variable");
        var queries = new List<PanelQuery>();
        foreach (var panel in Panels(Require(root, "panels", file)))
        {
            var name = $"{file} panel {Require(panel, "title", file).GetString()}";
            Check(panel.TryGetProperty("id", out _), $"{name}: no id");
            var grid = Require(panel, "gridPos", name);
            foreach (var k in new[] { "h", "w", "x", "y" }) Require(grid, k, name).GetInt32();
            if (panel.GetProperty("type").GetString() == "row") continue;
            var targets = Require(panel, "targets", name).EnumerateArray().ToList();
            Check(targets.Count > 0, $"{name}: no targets");
            Check(Require(panel, "datasource", name).GetProperty("uid").GetString() == "${datasource}", $"{name}: datasource is not the variable");
            foreach (var t in targets)
            {
                var expr = Require(t, "expr", name).GetString()!;
                Check(t.TryGetProperty("refId", out _), $"{name}: target without refId");
                foreach (var (v, value) in Substitutions) expr = expr.Replace(v, value);
                Check(!expr.Contains('$'), $"{name}: unknown variable in {expr}");
                queries.Add(new PanelQuery(title, panel.GetProperty("title").GetString()!, expr));
            }
        }
        return queries;
    }

    private static IEnumerable<JsonElement> Panels(JsonElement panels)
    {
        foreach (var p in panels.EnumerateArray())
        {
            yield return p;
            if (p.TryGetProperty("panels", out var nested))
                foreach (var n in Panels(nested)) yield return n;
        }
    }

    private static JsonElement Require(JsonElement e, string property, string where) =>
        e.TryGetProperty(property, out var v) ? v : throw new InvalidDataException($"{where}: no \"{property}\"");

    private static void Check(bool condition, string message)
    {
        if (!condition) throw new InvalidDataException(message);
    }
}
