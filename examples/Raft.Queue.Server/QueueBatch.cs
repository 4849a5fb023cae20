using System.Text;
using System.Text.Json;

namespace Raft.Queue.Server;

/// <summary>The messages of a publish's body: the body itself, or with <c>Content-Type: application/json</c> and a JSON
/// array, each element (a string's text in UTF-8, any other value its JSON text).</summary>
internal static class QueueBatch
{
    /// <summary>The messages; null (with <paramref name="why"/>) when the body claims to be a JSON batch and is not.</summary>
    public static byte[][]? Parse(string? contentType, byte[] body, out string? why)
    {
        why = null;
        var json = contentType is { } type && type.Split(';')[0].Trim().Equals("application/json", StringComparison.OrdinalIgnoreCase);
        var first = Array.FindIndex(body, b => b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'));
        if (!json || first < 0 || body[first] != (byte)'[') return [body];
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.EnumerateArray()
                .Select(e => e.ValueKind == JsonValueKind.String ? Encoding.UTF8.GetBytes(e.GetString()!) : Encoding.UTF8.GetBytes(e.GetRawText()))
                .ToArray();
        }
        catch (JsonException e)
        {
            why = $"the body is a JSON batch (an array) that does not parse: {e.Message}";
            return null;
        }
    }
}
