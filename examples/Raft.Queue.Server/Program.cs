// Raft.Queue.Server: one node of a replicated message queue; every queue its own Raft group (created by
// PUT /queues/{name}) through the placement layer, leaderships balanced across the nodes. Any node answers any
// request: commands travel to the queue's leader through the library, or over HTTP to a member of the queue's group
// when this node holds no replica. At-least-once delivery with visibility timeouts, receipts, nack, max deliveries and
// a dead-letter queue; snapshots per queue group (Queue:Raft:SnapshotEntries, ...).
//
//   dotnet run --project examples/Raft.Queue.Server -- --Queue:NodeId 1 ...   (scripts/queue-cluster.sh starts 3)
using Raft.Queue.Server;
using Raft.Server;

var builder = WebApplication.CreateBuilder(args);
// Validated once, here, before anything starts: every problem is printed with its key.
if (builder.AddRaftServer<QueueServerOptions, QueueNode>() is not { } settings) return 2;
builder.Services.AddHostedService<DeadLetterMover>();

var app = builder.Build();
var node = app.Services.GetRequiredService<QueueNode>();
app.MapQueues();
app.MapRaftServer();
app.MapServerChaos(node, settings.Join);
app.MapServerMembers(node);
app.MapClusterStatus(node);
app.MapServerUi(typeof(QueueNode).Assembly, node);
await app.RunAsync();
return 0;
