using MessagePack;
using Raft.Core;
using Tags = Raft.Core.MessageBody<int>.Tags;

namespace Raft.Serialization;

// One case per MessageBody kind: body = [kind, fields...]. Fields are written in declaration order; a reader
// requires the fields it knows and skips any a newer writer appended.
public sealed partial class RaftMessageCodec<T>
{
    private void WriteBody(ref MessagePackWriter w, MessageBody<T> body)
    {
        switch (body)
        {
            case MessageBody<T>.RequestVote { Item: var v }:
                w.WriteArrayHeader(5); w.Write(WireFormat.Body.RequestVote);
                w.Write(v.PreVote); w.Write(v.LastIndex); w.Write(v.LastTerm); w.Write(v.Transfer);
                break;
            case MessageBody<T>.RequestVoteResponse { Item: var v }:
                w.WriteArrayHeader(3); w.Write(WireFormat.Body.RequestVoteResponse);
                w.Write(v.PreVote); w.Write(v.Granted);
                break;
            case MessageBody<T>.AppendEntries { Item: var a }:
                w.WriteArrayHeader(5); w.Write(WireFormat.Body.AppendEntries);
                w.Write(a.PrevIndex); w.Write(a.PrevTerm);
                var entries = a.Entries ?? [];
                w.WriteArrayHeader(entries.Length);
                foreach (var e in entries) WriteEntry(ref w, e);
                w.Write(a.Commit);
                break;
            case MessageBody<T>.AppendEntriesResponse { Item: var r }:
                w.WriteArrayHeader(5); w.Write(WireFormat.Body.AppendEntriesResponse);
                w.Write(r.Success); w.Write(r.Index); w.Write(r.HintIndex); w.Write(r.HintTerm);
                break;
            case MessageBody<T>.Heartbeat { Item: var h }:
                w.WriteArrayHeader(3); w.Write(WireFormat.Body.Heartbeat);
                w.Write(h.Commit); w.Write(h.Context);
                break;
            case MessageBody<T>.HeartbeatResponse { Item: var h }:
                w.WriteArrayHeader(2); w.Write(WireFormat.Body.HeartbeatResponse);
                w.Write(h.Context);
                break;
            case MessageBody<T>.InstallSnapshot { Item: var c }:
                w.WriteArrayHeader(6); w.Write(WireFormat.Body.InstallSnapshot);
                CoreFormatters.WriteSnapshotMeta(ref w, c.Meta);
                w.Write(c.TransferId); w.Write(c.Offset); w.Write(c.Data ?? []); w.Write(c.Done);
                break;
            case MessageBody<T>.InstallSnapshotResponse { Item: var r }:
                w.WriteArrayHeader(5); w.Write(WireFormat.Body.InstallSnapshotResponse);
                w.Write(r.SnapshotIndex); w.Write(r.TransferId); w.Write(r.NextOffset); w.Write(r.Installed);
                break;
            case MessageBody<T>.ReadIndex { Item: var r }:
                w.WriteArrayHeader(2); w.Write(WireFormat.Body.ReadIndex);
                w.Write(r.Context);
                break;
            case MessageBody<T>.ReadIndexReply { Item: var r }:
                w.WriteArrayHeader(4); w.Write(WireFormat.Body.ReadIndexReply);
                w.Write(r.Context); w.Write(r.Index); w.Write(r.Rejected);
                break;
            case var _ when body.Tag == Tags.TimeoutNow:
                w.WriteArrayHeader(1); w.Write(WireFormat.Body.TimeoutNow);
                break;
            default:
                throw new InvalidOperationException($"unknown MessageBody case {body.Tag}: update RaftMessageCodec");
        }
    }

    private MessageBody<T> ReadBody(ref MessagePackReader r)
    {
        var n = Records.ReadHeader(ref r, 1, "MessageBody");
        var kind = r.ReadByte();
        MessageBody<T> body;
        int known;
        switch (kind)
        {
            case WireFormat.Body.RequestVote:
                known = Need(n, 5, kind);
                body = MessageBody<T>.NewRequestVote(new VoteRequest(r.ReadBoolean(), r.ReadInt64(), r.ReadInt64(), r.ReadBoolean()));
                break;
            case WireFormat.Body.RequestVoteResponse:
                known = Need(n, 3, kind);
                body = MessageBody<T>.NewRequestVoteResponse(new VoteResponse(r.ReadBoolean(), r.ReadBoolean()));
                break;
            case WireFormat.Body.AppendEntries:
            {
                known = Need(n, 5, kind);
                var prevIndex = r.ReadInt64();
                var prevTerm = r.ReadInt64();
                var count = Records.ReadCount(ref r, "AppendEntries.Entries");
                var entries = count == 0 ? [] : new Entry<T>[count];
                for (var i = 0; i < count; i++) entries[i] = ReadEntry(ref r);
                body = MessageBody<T>.NewAppendEntries(new AppendRequest<T>(prevIndex, prevTerm, entries, r.ReadInt64()));
                break;
            }
            case WireFormat.Body.AppendEntriesResponse:
                known = Need(n, 5, kind);
                body = MessageBody<T>.NewAppendEntriesResponse(new AppendResponse(r.ReadBoolean(), r.ReadInt64(), r.ReadInt64(), r.ReadInt64()));
                break;
            case WireFormat.Body.Heartbeat:
                known = Need(n, 3, kind);
                body = MessageBody<T>.NewHeartbeat(new HeartbeatRequest(r.ReadInt64(), r.ReadInt64()));
                break;
            case WireFormat.Body.HeartbeatResponse:
                known = Need(n, 2, kind);
                body = MessageBody<T>.NewHeartbeatResponse(new HeartbeatResponse(r.ReadInt64()));
                break;
            case WireFormat.Body.InstallSnapshot:
            {
                known = Need(n, 6, kind);
                var meta = CoreFormatters.ReadSnapshotMeta(ref r);
                var transferId = r.ReadInt64();
                var offset = r.ReadInt64();
                var data = Records.ReadBytes(ref r, "InstallSnapshot.Data");
                body = MessageBody<T>.NewInstallSnapshot(new SnapshotChunk(meta, transferId, offset, data, r.ReadBoolean()));
                break;
            }
            case WireFormat.Body.InstallSnapshotResponse:
                known = Need(n, 5, kind);
                body = MessageBody<T>.NewInstallSnapshotResponse(new SnapshotResponse(r.ReadInt64(), r.ReadInt64(), r.ReadInt64(), r.ReadBoolean()));
                break;
            case WireFormat.Body.TimeoutNow:
                known = 1;
                body = MessageBody<T>.TimeoutNow;
                break;
            case WireFormat.Body.ReadIndex:
                known = Need(n, 2, kind);
                body = MessageBody<T>.NewReadIndex(new ReadIndexRequest(r.ReadInt64()));
                break;
            case WireFormat.Body.ReadIndexReply:
                known = Need(n, 4, kind);
                body = MessageBody<T>.NewReadIndexReply(new ReadIndexResponse(r.ReadInt64(), r.ReadInt64(), r.ReadBoolean()));
                break;
            default:
                throw new RaftCodecException(RaftCodecError.UnknownKind, $"message kind {kind}");
        }
        Records.SkipRest(ref r, n, known);
        return body;
    }

    private static int Need(int count, int known, byte kind) =>
        count >= known ? known : throw new RaftCodecException(RaftCodecError.Malformed, $"message kind {kind} has {count} fields, expected at least {known}");
}
