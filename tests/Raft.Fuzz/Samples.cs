using Microsoft.FSharp.Collections;
using Raft.Core;
using Raft.Serialization;

namespace Raft.Fuzz;

/// <summary>Valid values of every kind the codecs carry, for the seed corpora.</summary>
internal static class Samples
{
    private static FSharpSet<long> Set(params long[] ids) => SetModule.OfArray(ids);

    public static readonly Membership Three = new(Set(1, 2, 3), Set(), Set(4), Set(), false);
    public static readonly Membership Joint = new(Set(1, 2, 4), Set(1, 2, 3), Set(), Set(3), true);
    public static readonly ConfigState Config = new(Joint, 7, Three, 2);
    public static readonly HardState Hard = new(5, 2, 9, Config);
    public static readonly SnapshotMeta Meta = new(9, 5, Config);

    public static Entry<int> Command(long index, long term, int value) => new(index, term, Payload<int>.NewCommand(value), 4);

    public static IEnumerable<(string Name, Entry<int> Entry)> Entries()
    {
        yield return ("noop", new Entry<int>(1, 1, Payload<int>.Noop, 0));
        yield return ("command", Command(2, 1, 42));
        yield return ("config", new Entry<int>(3, 2, Payload<int>.NewConfig(Joint), 16));
    }

    public static IEnumerable<(string Name, Message<int> Message)> Messages()
    {
        Message<int> M(MessageBody<int> body) => new(1, 2, 5, body);
        yield return ("vote", M(MessageBody<int>.NewRequestVote(new VoteRequest(true, 9, 4, false))));
        yield return ("vote-response", M(MessageBody<int>.NewRequestVoteResponse(new VoteResponse(false, true))));
        yield return ("append", M(MessageBody<int>.NewAppendEntries(new AppendRequest<int>(1, 1, Entries().Select(e => e.Entry).ToArray(), 2))));
        yield return ("append-response", M(MessageBody<int>.NewAppendEntriesResponse(new AppendResponse(false, 3, 2, 1))));
        yield return ("heartbeat", M(MessageBody<int>.NewHeartbeat(new HeartbeatRequest(8, 77))));
        yield return ("heartbeat-response", M(MessageBody<int>.NewHeartbeatResponse(new HeartbeatResponse(77))));
        yield return ("snapshot", M(MessageBody<int>.NewInstallSnapshot(new SnapshotChunk(Meta, 3, 0, [1, 2, 3], true))));
        yield return ("snapshot-response", M(MessageBody<int>.NewInstallSnapshotResponse(new SnapshotResponse(9, 3, 3, true))));
        yield return ("timeout-now", M(MessageBody<int>.TimeoutNow));
        yield return ("read-index", M(MessageBody<int>.NewReadIndex(new ReadIndexRequest(12))));
        yield return ("read-index-reply", M(MessageBody<int>.NewReadIndexReply(new ReadIndexResponse(12, 9, false))));
    }

    public static IEnumerable<(string Name, RaftEnvelope<int>[] Batch)> Batches()
    {
        var messages = Messages().ToList();
        yield return ("batch-heartbeat", [new RaftEnvelope<int>(1, messages.First(m => m.Name == "heartbeat").Message)]);
        yield return ("batch-append", [new RaftEnvelope<int>(3, messages.First(m => m.Name == "append").Message)]);
        yield return ("batch-all", messages.Select((m, i) => new RaftEnvelope<int>(i, m.Message)).ToArray());
        yield return ("batch-forwarded", [RaftEnvelope<int>.ForHost(2, new ForwardedProposals<int>(17, [1, 2], ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", null]))]);
        yield return ("batch-outcome", [RaftEnvelope<int>.ForHost(2, new ForwardedOutcome<int>(17, 1, ForwardStatus.Applied, 10, 5, [9], null, 1))]);
        yield return ("batch-empty", []);
    }
}
