using Raft.AspNetCore;
using Raft.MultiRaft;

namespace Raft.KeyValue.Server;

/// <summary>The chaos admin endpoints on the kv server (<c>/admin/partition</c>, <c>heal</c>, <c>transfer-leader</c>,
/// <c>pause</c>, <c>resume</c>, <c>kill</c>, <c>reset</c>, <c>rebalance</c>, <c>state</c>, <c>members</c>), only when
/// <c>Kv:Chaos:Enabled</c> is true and then behind <c>Kv:Chaos:Token</c> or an allowed client certificate.</summary>
public static class KvChaos
{
    /// <param name="app">The server.</param>
    /// <param name="settings">Its settings.</param>
    /// <param name="rejoin">This start follows a reset: ask a member to add the node back.</param>
    public static void MapKvChaos(this WebApplication app, KvServerOptions settings, bool rejoin)
    {
        var node = app.Services.GetRequiredService<KvNode>();
        var self = settings.Members.FirstOrDefault(m => m.Id == settings.NodeId) ?? new ClusterMember(settings.NodeId, settings.RaftEndpoint, settings.HttpUrl);
        app.MapRaftAdmin(settings.Chaos, node.Placement, node.Faults, new RaftAdminSettings
        {
            DataDirectory = settings.DataDirectory,
            Self = self,
            Members = settings.Members,
            Rejoin = rejoin,
            RequestTimeout = settings.RequestTimeout,
        });
    }
}
