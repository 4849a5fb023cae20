namespace Raft.Tui;

/// <summary>The command line: <c>--nodes URL,URL,...</c> (required), <c>--token T</c> (the chaos token),
/// <c>--start "CMD {id}"</c> (how <c>f</c> starts a node that is down), <c>--join "CMD {id}"</c> (how <c>j</c> starts a
/// new node), <c>--interval MS</c> (the poll period, 500 by default).</summary>
public sealed record TuiOptions(IReadOnlyList<string> Nodes, string? Token, string? StartCommand, string? JoinCommand, TimeSpan Interval)
{
    public const string Usage =
        "usage: Raft.Tui --nodes http://127.0.0.1:8101,http://127.0.0.1:8102,... [--token TOKEN] " +
        "[--start \"scripts/kv-cluster.sh start-node {id}\"] [--join \"CMD {id}\"] [--interval 500]";

    /// <summary>The options, or the problem with <paramref name="args"/>.</summary>
    public static (TuiOptions? Options, string? Error) Parse(IReadOnlyList<string> args)
    {
        string? nodes = null, token = null, start = null, join = null;
        var interval = TimeSpan.FromMilliseconds(500);
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (i + 1 >= args.Count) return (null, $"{name} needs a value");
            var value = args[++i];
            switch (name)
            {
                case "--nodes": nodes = value; break;
                case "--token": token = value; break;
                case "--start": start = value; break;
                case "--join": join = value; break;
                case "--interval":
                    if (!int.TryParse(value, out var ms) || ms < 50) return (null, $"--interval must be a number of milliseconds of at least 50 (is '{value}')");
                    interval = TimeSpan.FromMilliseconds(ms);
                    break;
                default: return (null, $"unknown option {name}");
            }
        }
        if (string.IsNullOrWhiteSpace(nodes)) return (null, "--nodes is required");
        var urls = nodes.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var url in urls)
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                return (null, $"--nodes: '{url}' is not an http(s) URL");
        token ??= Environment.GetEnvironmentVariable("RAFT_CHAOS_TOKEN");
        return (new TuiOptions(urls, string.IsNullOrEmpty(token) ? null : token, start, join, interval), null);
    }
}
