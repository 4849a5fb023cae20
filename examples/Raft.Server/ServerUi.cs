using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Raft.Server;

/// <summary>A server's web UI: <c>/</c> (and <c>/ui/</c>) serve its <c>index.html</c>, <c>/ui/{file}</c> its script and
/// style, all embedded in the server's assembly under <c>ui/</c> (no CDN, no build step), beside what every page
/// shares (<c>/ui/kit.js</c>, <c>/ui/kit.css</c>, embedded in this assembly); <c>GET /ui/config</c> tells
/// the page this node's id and whether the chaos admin endpoints exist (so it shows their buttons only then).</summary>
public static class ServerUi
{
    /// <summary>Maps the page, its files and its config.</summary>
    /// <param name="app">The server.</param>
    /// <param name="assembly">Where the files are embedded (<c>&lt;EmbeddedResource Include="ui/*" LogicalName="ui/%(Filename)%(Extension)" /&gt;</c>).</param>
    /// <param name="node">This server's node.</param>
    public static void MapServerUi(this WebApplication app, Assembly assembly, IServerNode node)
    {
        var files = Load(typeof(ServerUi).Assembly);
        foreach (var (name, file) in Load(assembly)) files[name] = file;
        IResult Serve(string file) =>
            files.TryGetValue(file, out var f) ? Results.Bytes(f.Bytes, f.Type)
                : ServerProblems.Problem(404, "no such file", $"the UI has no file '{file}'");
        app.MapGet("/", () => Serve("index.html"));
        app.MapGet("/ui/", () => Serve("index.html"));
        app.MapGet("/ui/config", () => Results.Json(new { nodeId = node.Settings.NodeId, chaos = node.Settings.Chaos.Enabled }));
        app.MapGet("/ui/{file}", (string file) => Serve(file));
    }

    private static Dictionary<string, (byte[] Bytes, string Type)> Load(Assembly assembly)
    {
        var files = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("ui/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            files[name["ui/".Length..]] = (copy.ToArray(), Path.GetExtension(name) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                _ => "application/octet-stream",
            });
        }
        return files;
    }
}
