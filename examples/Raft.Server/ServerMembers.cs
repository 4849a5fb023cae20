using Microsoft.AspNetCore.Builder;
using Raft.AspNetCore;

namespace Raft.Server;

/// <summary><c>/cluster/members</c> on an example server: GET open; POST and DELETE behind the server's admin
/// credentials (<c>Section:Chaos:Token</c>, <c>AllowedThumbprints</c>, <c>ClientCaPath</c>), read whether or not
/// <c>Section:Chaos:Enabled</c> is true; without any, 403 naming <c>Section:Chaos:Token</c>.</summary>
public static class ServerMembers
{
    /// <param name="app">The server.</param>
    /// <param name="node">Its node.</param>
    public static void MapServerMembers<TCommand, TResult>(this WebApplication app, ServerNode<TCommand, TResult> node)
    {
        var settings = node.Settings;
        app.MapRaftMembers(node.Placement, settings.Chaos, $"{settings.Section}:Chaos", settings.RequestTimeout);
    }
}
