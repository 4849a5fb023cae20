// Raft.KeyValue.Server: one node of a replicated key-value store; every key its own Raft group (created on the first
// write) or, with Kv:Placement=hash:N, one of N shared groups; each group on every member or on Kv:ReplicationFactor of
// them; leaderships balanced across the nodes. Any node answers any request: writes and linearizable reads travel to
// the key's leader through the library, or over HTTP to a member of the key's group when this node holds no replica.
//
//   dotnet run --project examples/Raft.KeyValue.Server -- --Kv:NodeId 1 ...   (scripts/kv-cluster.sh starts 3)
using Raft.AspNetCore;
using Raft.Health;
using Raft.KeyValue.Server;
using Raft.Node;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddOptions<KvServerOptions>().Bind(builder.Configuration.GetSection(KvServerOptions.SectionName));
// Validated once, here, before anything starts: every problem is printed with its key.
var settings = builder.Configuration.GetSection(KvServerOptions.SectionName).Get<KvServerOptions>() ?? new KvServerOptions();
if (settings.Validate() is { Count: > 0 } errors)
{
    foreach (var e in errors) Console.Error.WriteLine($"configuration error: {e}");
    return 2;
}
// After a chaos reset: the data folder is wiped here, and the node starts joining (it asks a member to add it back).
var rejoin = RaftReset.Prepare(settings.DataDirectory);
if (rejoin) builder.Configuration[$"{KvServerOptions.SectionName}:{nameof(KvServerOptions.Join)}"] = "true";
builder.WebHost.UseUrls(settings.HttpUrl).UseRaftHttps(settings.Https, settings.Chaos);
builder.Services.AddSingleton<KvNode>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<KvNode>());
builder.Services.AddSingleton<KvWatch>();
builder.Services.AddSingleton<KvEvents>();
builder.Services.AddSingleton<IRaftNode>(sp => sp.GetRequiredService<KvNode>().Host);
builder.Services.AddHealthChecks().AddRaft();
builder.Services.AddRaftMetrics();
builder.Services.AddProblemDetails();
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));

var app = builder.Build();
app.MapKv();
app.MapRaftStatus();
app.MapRaftHealth();
app.MapRaftMetrics();
app.MapKvChaos(settings, rejoin);
app.MapKvEvents();
app.MapKvUi();
await app.RunAsync();
return 0;
