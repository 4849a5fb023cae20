using System.Globalization;

namespace Raft.Server;

/// <summary>Durations as query parameters take them: seconds (<c>30</c>, <c>30s</c>), milliseconds (<c>500ms</c>) or
/// minutes (<c>2m</c>).</summary>
public static class Durations
{
    /// <summary>The duration <paramref name="text"/> names; null when it is none of the forms above or negative.</summary>
    public static TimeSpan? Parse(string text)
    {
        var (number, unit) = text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 1.0)
            : text.EndsWith('s') ? (text[..^1], 1000.0)
            : text.EndsWith('m') ? (text[..^1], 60_000.0)
            : (text, 1000.0);
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || double.IsInfinity(value * unit)) return null;
        return value * unit > TimeSpan.MaxValue.TotalMilliseconds ? null : TimeSpan.FromMilliseconds(value * unit);
    }
}
