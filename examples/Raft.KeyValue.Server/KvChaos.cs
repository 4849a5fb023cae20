using Raft.Server;

namespace Raft.KeyValue.Server;

/// <summary>The shared chaos admin endpoints (<see cref="ServerChaos"/>) on the kv server, under <c>Kv:Chaos</c>.</summary>
public static class KvChaos
{
    /// <param name="app">The server.</param>
    /// <param name="settings">Its settings.</param>
    /// <param name="rejoin">This start follows a reset: ask a member to add the node back.</param>
    public static void MapKvChaos(this WebApplication app, KvServerOptions settings, bool rejoin) =>
        app.MapServerChaos(app.Services.GetRequiredService<KvNode>(), rejoin);
}
