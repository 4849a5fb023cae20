using Microsoft.AspNetCore.Builder;
using Raft.AspNetCore;
using Raft.MultiRaft;

namespace Raft.Server;

/// <summary>The chaos admin endpoints of an example server (<c>/admin/partition</c>, <c>heal</c>, <c>transfer-leader</c>,
/// <c>pause</c>, <c>resume</c>, <c>kill</c>, <c>reset</c>, <c>rebalance</c>, <c>state</c>, <c>members</c>), only when
/// <c>Section:Chaos:Enabled</c> is true and then behind <c>Section:Chaos:Token</c> or an allowed client certificate.</summary>
public static class ServerChaos
{
    /// <param name="app">The server.</param>
    /// <param name="node">Its node.</param>
    /// <param name="rejoin">This start follows a reset (or was told to join): ask a member to add the node back.</param>
    public static void MapServerChaos<TCommand, TResult>(this WebApplication app, ServerNode<TCommand, TResult> node, bool rejoin)
    {
        var settings = node.Settings;
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
