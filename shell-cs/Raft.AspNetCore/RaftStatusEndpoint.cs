using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Raft.Node;

namespace Raft.AspNetCore;

/// <summary>The <c>/raft/status</c> endpoint: the JSON of <see cref="IRaftNode.GetStatus"/>.</summary>
public static class RaftStatusEndpoint
{
    /// <summary>camelCase properties, enums by name (<c>"role": "Leader"</c>).</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>
    /// Maps GET <paramref name="pattern"/> to the status document of the <see cref="IRaftNode"/> registered in DI: one
    /// <see cref="NodeStatus"/> object when the process holds one node, an array of them (by node id) when it holds
    /// several; 503 when none is registered.
    /// </summary>
    public static IEndpointConventionBuilder MapRaftStatus(this IEndpointRouteBuilder endpoints, string pattern = "/raft/status")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.MapGet(pattern, (HttpContext http) =>
        {
            var nodes = http.RequestServices.GetServices<IRaftNode>().OrderBy(n => n.NodeId).ToArray();
            return nodes.Length switch
            {
                0 => Results.Problem("no Raft node is registered", statusCode: StatusCodes.Status503ServiceUnavailable),
                1 => Results.Json(nodes[0].GetStatus(), JsonOptions),
                _ => Results.Json(nodes.Select(n => n.GetStatus()).ToArray(), JsonOptions),
            };
        });
    }
}
