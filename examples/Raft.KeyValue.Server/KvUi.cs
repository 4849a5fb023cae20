using System.Reflection;

namespace Raft.KeyValue.Server;

/// <summary>The web UI: <c>/</c> (and <c>/ui/</c>) serve the page, <c>/ui/{file}</c> its script and style, all
/// embedded in this assembly (no CDN, no build step). The page works from this node's own endpoints only.</summary>
public static class KvUi
{
    private static readonly Dictionary<string, (byte[] Bytes, string Type)> Files = Load();

    /// <summary>Maps the page and its files.</summary>
    public static void MapKvUi(this WebApplication app)
    {
        app.MapGet("/", () => Serve("index.html"));
        app.MapGet("/ui/", () => Serve("index.html"));
        app.MapGet("/ui/{file}", (string file) => Serve(file));
    }

    private static IResult Serve(string file) =>
        Files.TryGetValue(file, out var f) ? Results.Bytes(f.Bytes, f.Type)
            : Results.Problem($"the UI has no file '{file}'", statusCode: 404, title: "no such file");

    private static Dictionary<string, (byte[], string)> Load()
    {
        var assembly = Assembly.GetExecutingAssembly();
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
