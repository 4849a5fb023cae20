using System.Text.Json;
using System.Text.Json.Nodes;

namespace Raft.Testing;

/// <summary>
/// Histories as JSON lines, one event per line in time order, the way Jepsen and Porcupine keep them:
/// <c>{"type":"invoke","op":7,"client":3,"time":1200,"value":{...input...}}</c>, then for the same op one of
/// <c>{"type":"complete",...,"value":{...output...}}</c>, <c>{"type":"fail",...}</c> or <c>{"type":"unknown",...}</c>.
/// An invoke without an end is unknown (the client died). Times are any monotonic clock (the recorder writes
/// nanoseconds); values use System.Text.Json with the options given.
/// </summary>
public static class HistoryFile
{
    /// <summary>Writes <paramref name="history"/> to <paramref name="path"/>.</summary>
    public static void Write<TInput, TOutput>(string path, IEnumerable<HistoryOperation<TInput, TOutput>> history, JsonSerializerOptions? options = null)
    {
        using var stream = File.Create(path);
        Write(stream, history, options);
    }

    /// <summary>Writes <paramref name="history"/> to <paramref name="output"/>.</summary>
    public static void Write<TInput, TOutput>(Stream output, IEnumerable<HistoryOperation<TInput, TOutput>> history, JsonSerializerOptions? options = null)
    {
        var events = new List<(long Time, int Order, string Line)>();
        var op = 0;
        foreach (var o in history)
        {
            events.Add((o.Call, 0, Line("invoke", op, o.Client, o.Call, JsonSerializer.SerializeToNode(o.Input, options))));
            switch (o.Outcome)
            {
                case OperationOutcome.Completed:
                    events.Add((o.Return, 1, Line("complete", op, o.Client, o.Return, JsonSerializer.SerializeToNode(o.Output, options))));
                    break;
                case OperationOutcome.Failed:
                    events.Add((o.Return, 1, Line("fail", op, o.Client, o.Return, null)));
                    break;
                case OperationOutcome.Unknown when o.Return != long.MaxValue:
                    events.Add((o.Return, 1, Line("unknown", op, o.Client, o.Return, null)));
                    break;
            }
            op++;
        }
        using var writer = new StreamWriter(output, leaveOpen: true);
        // Stable sort: at equal times, calls before returns, as the checker orders them.
        foreach (var e in events.OrderBy(e => e.Time).ThenBy(e => e.Order))
            writer.WriteLine(e.Line);
    }

    private static string Line(string type, int op, int client, long time, JsonNode? value)
    {
        var line = new JsonObject { ["type"] = type, ["op"] = op, ["client"] = client, ["time"] = time };
        if (value is not null || type is "invoke" or "complete") line["value"] = value;
        return line.ToJsonString();
    }

    /// <summary>Reads a history written by <see cref="Write{TInput,TOutput}(string,IEnumerable{HistoryOperation{TInput,TOutput}},JsonSerializerOptions?)"/> (or by hand).</summary>
    /// <exception cref="FormatException">A line is not an event (the message names the line).</exception>
    public static IReadOnlyList<HistoryOperation<TInput, TOutput>> Read<TInput, TOutput>(string path, JsonSerializerOptions? options = null)
    {
        using var reader = File.OpenText(path);
        return Read<TInput, TOutput>(reader, options);
    }

    /// <summary>Reads a history from JSON lines; the operations come in the order of their invoke lines.</summary>
    /// <exception cref="FormatException">A line is not an event (the message names the line).</exception>
    public static IReadOnlyList<HistoryOperation<TInput, TOutput>> Read<TInput, TOutput>(TextReader reader, JsonSerializerOptions? options = null)
    {
        var ops = new List<HistoryOperation<TInput, TOutput>>();
        var open = new Dictionary<long, int>();
        var number = 0;
        while (reader.ReadLine() is { } text)
        {
            number++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            try
            {
                var e = JsonNode.Parse(text)?.AsObject() ?? throw new FormatException("not an object");
                var type = (string?)e["type"] ?? throw new FormatException("no \"type\"");
                var op = (long?)e["op"] ?? throw new FormatException("no \"op\"");
                var time = (long?)e["time"] ?? throw new FormatException("no \"time\"");
                if (type == "invoke")
                {
                    var client = (int?)e["client"] ?? throw new FormatException("no \"client\"");
                    if (!open.TryAdd(op, ops.Count)) throw new FormatException($"op {op} invoked twice");
                    var input = e["value"].Deserialize<TInput>(options)!;
                    ops.Add(HistoryOperation<TInput, TOutput>.Unknown(client, input, time));
                    continue;
                }
                if (!open.Remove(op, out var at)) throw new FormatException($"op {op} ends without an invoke");
                var started = ops[at];
                if (time < started.Call) throw new FormatException($"op {op} ends at {time}, before its call at {started.Call}");
                ops[at] = type switch
                {
                    "complete" => started with { Outcome = OperationOutcome.Completed, Return = time, Output = e["value"].Deserialize<TOutput>(options) },
                    "fail" => started with { Outcome = OperationOutcome.Failed, Return = time },
                    "unknown" => started with { Return = time },
                    _ => throw new FormatException($"unknown type \"{type}\""),
                };
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
            {
                throw new FormatException($"line {number}: {ex.Message}: {text}", ex);
            }
        }
        return ops;
    }
}
