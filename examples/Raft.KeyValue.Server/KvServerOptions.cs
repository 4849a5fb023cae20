using Raft.Server;

namespace Raft.KeyValue.Server;

/// <summary>The server's settings (the shared <see cref="ServerOptions"/> and the kv server's own), section "Kv" (appsettings.json, environment <c>Kv__NodeId</c>, command line <c>--Kv:NodeId</c>).</summary>
public sealed class KvServerOptions() : ServerOptions(SectionName, "raft-kv")
{
    public const string SectionName = "Kv";

    /// <summary>The longest key in UTF-8 bytes.</summary>
    public int MaxKeyBytes { get; set; } = 512;
    /// <summary>The largest value in bytes.</summary>
    public int MaxValueBytes { get; set; } = 1024 * 1024;

    /// <summary>Every problem, each naming its key; empty when valid.</summary>
    public override IReadOnlyList<string> Validate()
    {
        var errors = base.Validate().ToList();
        if (MaxKeyBytes is < 1 or > 64 * 1024) errors.Add($"{SectionName}:MaxKeyBytes must be within 1-65536 (is {MaxKeyBytes})");
        if (MaxValueBytes is < 1 or > 64 * 1024 * 1024) errors.Add($"{SectionName}:MaxValueBytes must be within 1-67108864 (is {MaxValueBytes})");
        return errors;
    }
}
