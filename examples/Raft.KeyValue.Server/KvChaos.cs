using Raft.AspNetCore;

namespace Raft.KeyValue.Server;

/// <summary>The chaos admin endpoints on the kv server (<c>/admin/partition</c>, <c>/admin/heal</c>,
/// <c>/admin/transfer-leader</c>), only when <c>Kv:Chaos:Enabled</c> is true and then behind <c>Kv:Chaos:Token</c>.</summary>
public static class KvChaos
{
    public static void MapKvChaos(this WebApplication app, KvServerOptions settings)
    {
        var node = app.Services.GetRequiredService<KvNode>();
        app.MapRaftChaos(settings.Chaos, settings.NodeId, node.Faults, (group, target, ct) =>
            node.Placement.Host.GetGroup(group).TransferLeadershipAsync(target, settings.RequestTimeout, ct));
    }
}
