using System.Reflection;
using Raft.Server;

namespace Raft.KeyValue.Server;

/// <summary>The web UI: <c>/</c> (and <c>/ui/</c>) serve the page, <c>/ui/{file}</c> its script and style, all
/// embedded in this assembly (no CDN, no build step; served by the shared <see cref="ServerUi"/>). The page works
/// from this node's own endpoints only.</summary>
public static class KvUi
{
    /// <summary>Maps the page and its files.</summary>
    public static void MapKvUi(this WebApplication app) =>
        app.MapServerUi(Assembly.GetExecutingAssembly(), app.Services.GetRequiredService<KvNode>());
}
