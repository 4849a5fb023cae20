using Microsoft.Extensions.Logging;
using Microsoft.FSharp.Core;
using Raft.Core;
using Raft.Serialization;
using Raft.Storage;

namespace Raft.Node;

/// <summary>Builds a group's starting core state from its storage: a brand-new group is bootstrapped, an existing
/// one is restored from its hard state, snapshot, log terms, a tail of recent entries and the snapshot it was
/// receiving.</summary>
internal static class GroupRestore
{
    /// <summary>The starting state of group <paramref name="groupId"/>; <paramref name="receiving"/> is the partial
    /// snapshot the restored core continues receiving (the host writes the next chunk to it), or null.</summary>
    public static State<T> Load<T, TResult>(RaftOptions options, long[] voters, GroupStorage storage, IStateMachine<T, TResult> stateMachine,
        RaftMessageCodec<T> codec, int tailEntries, long groupId, ILogger log, out bool restored, out SnapshotWriter? receiving)
    {
        receiving = null;
        try
        {
            return Restore(options, voters, storage, stateMachine, codec, tailEntries, groupId, log, out restored, ref receiving);
        }
        catch
        {
            receiving?.Close(); // its durable chunks stay for the next attempt
            receiving = null;
            throw;
        }
    }

    private static State<T> Restore<T, TResult>(RaftOptions options, long[] voters, GroupStorage storage, IStateMachine<T, TResult> stateMachine,
        RaftMessageCodec<T> codec, int tailEntries, long groupId, ILogger logger, out bool restored, ref SnapshotWriter? receiving)
    {
        var log = storage.Log;
        var hardBytes = storage.HardState.Load();
        var snapshot = storage.Snapshots?.Latest();
        if (hardBytes is null && snapshot is null && log.LastIndex < log.FirstIndex && log.FirstIndex == 1)
        {
            restored = false;
            // No voters: a node joining an existing group, which learns its configuration from the leader.
            return voters.Length == 0 ? RaftNode.Join<T>(options) : RaftNode.Bootstrap<T>(options, voters);
        }
        restored = true;

        var snapshotMeta = FSharpValueOptionNone<SnapshotMeta>();
        long snapIndex = 0;
        if (snapshot is not null && storage.Snapshots!.OpenLatest() is { } reader)
        {
            using (reader)
            {
                var meta = RaftStateCodec.DecodeSnapshotMeta(snapshot.Configuration);
                stateMachine.Restore(reader.Data);
                snapshotMeta = Microsoft.FSharp.Core.FSharpValueOption<SnapshotMeta>.NewValueSome(meta);
                snapIndex = meta.Index;
            }
            // A crash between publishing an installed snapshot and resetting the log leaves a log that does not
            // continue the snapshot: reset it now (first index snapIndex + 1), as the install would have.
            bool continues = log.LastIndex >= snapIndex && log.FirstIndex <= snapIndex + 1
                             && (snapIndex < log.FirstIndex - 1 || log.TermAt(snapIndex) == snapshotMeta.Value.Term);
            if (!continues) SnapshotReceiver.ResetLogTo(log, snapIndex, snapshotMeta.Value.Term);
        }

        long first = Math.Max(log.FirstIndex, snapIndex + 1);
        long last = Math.Max(log.LastIndex, snapIndex);
        var hard = hardBytes is not null
            ? RaftStateCodec.DecodeHardState(hardBytes)
            : new HardState(last >= first ? log.TermAt(last) : 0, 0, 0, snapshotMeta.IsSome ? snapshotMeta.Value.Config : Core.Node.initialConfig(voters));

        // Term runs of (snapshot, last] by binary search over the log's in-memory terms: one probe per term change.
        var runs = new List<(long, long)>();
        for (long i = first; i <= last;)
        {
            long term = log.TermAt(i), lo = i, hi = last;
            while (lo < hi)
            {
                long mid = lo + (hi - lo + 1) / 2;
                if (log.TermAt(mid) == term) lo = mid; else hi = mid - 1;
            }
            runs.Add((i, term));
            i = lo + 1;
        }

        var tail = Array.Empty<Entry<T>>();
        long tailFrom = last + 1;
        if (last >= first && tailEntries > 0)
        {
            long from = tailFrom = Math.Max(first, last - tailEntries + 1);
            var records = log.ReadRange(from, last);
            tail = new Entry<T>[records.Count];
            for (var i = 0; i < tail.Length; i++) tail[i] = codec.DecodeEntry(records[i].Payload);
        }

        // The tail is decoded already; only the entries before it are read again, header only.
        var configs = ConfigEntries<T>(log, first, tailFrom - 1).Concat(Core.Node.configEntries(tail)).ToArray();

        // Received chunks are made durable one by one (SnapshotWriter.Checkpoint, before each acknowledgement leaves),
        // so a snapshot transfer interrupted by a restart continues at the first byte not yet durable.
        receiving = ResumeReceiving(groupId, options.Id, storage, logger, out var incoming);
        var info = new RestoreInfo<T>(hard, snapshotMeta, last,
            runs.Select(r => new ValueTuple<long, long>(r.Item1, r.Item2)).ToArray(), tail, configs, snapIndex, incoming);
        var state = RaftNode.Restore(options, info);
        if (receiving is not null && state.Incoming.IsNone)
        {
            // The log already commits past that snapshot (the core dropped it): nothing to resume.
            receiving.Dispose();
            receiving = null;
        }
        else if (receiving is not null)
            NodeLog.SnapshotReceiveResumed(logger, groupId, options.Id, receiving.Index, receiving.Term, receiving.BytesWritten);
        return state;
    }

    /// <summary>The configuration entries of <c>first..last</c>, oldest first: the core derives the configuration in force
    /// from them (a crash between a write's entries and its hard state leaves a hard state that does not describe the
    /// log). Reads the log in bounded chunks and decodes only each entry's header.</summary>
    private static List<ValueTuple<long, Membership>> ConfigEntries<T>(ILogStorage log, long first, long last)
    {
        var configs = new List<ValueTuple<long, Membership>>();
        for (long from = first; from <= last;)
        {
            var records = log.ReadRange(from, last, maxBytes: 4 << 20);
            foreach (var record in records)
                if (RaftMessageCodec<T>.ReadConfigOrNull(record.Payload) is { } m)
                    configs.Add((record.Index, m));
            from = records[^1].Index + 1;
        }
        return configs;
    }

    /// <summary>The partial snapshot left by the last run, or null; a damaged one is discarded (and logged), never fatal.</summary>
    private static SnapshotWriter? ResumeReceiving(long groupId, long nodeId, GroupStorage storage, ILogger logger, out FSharpValueOption<IncomingSnapshot> incoming)
    {
        incoming = FSharpValueOption<IncomingSnapshot>.None;
        if (storage.Snapshots is not { } store) return null;
        var writer = store.ResumeReceive(out var discarded);
        if (discarded is not null) NodeLog.PartialSnapshotDiscarded(logger, groupId, nodeId, discarded);
        if (writer is null) return null;
        SnapshotMeta meta;
        try { meta = RaftStateCodec.DecodeSnapshotMeta(writer.Configuration); }
        catch (Exception e)
        {
            writer.Dispose();
            NodeLog.PartialSnapshotDiscarded(logger, groupId, nodeId, $"its metadata does not decode ({e.Message})");
            return null;
        }
        if (meta.Index != writer.Index || meta.Term != writer.Term)
        {
            writer.Dispose();
            NodeLog.PartialSnapshotDiscarded(logger, groupId, nodeId,
                $"its metadata says {meta.Index}/{meta.Term}, its file {writer.Index}/{writer.Term}");
            return null;
        }
        var log = storage.Log;
        if (meta.Index >= log.FirstIndex && meta.Index <= log.LastIndex && log.TermAt(meta.Index) == meta.Term)
        {
            // The log reached the snapshot's last entry after the transfer began (a leader sent entries instead): by log
            // matching it holds everything the snapshot covers, and resuming would only hold the group's own snapshots
            // back until a transfer nobody will finish.
            writer.Dispose();
            NodeLog.PartialSnapshotDiscarded(logger, groupId, nodeId, $"the log already holds its last entry {meta.Index} (term {meta.Term})");
            return null;
        }
        incoming = FSharpValueOption<IncomingSnapshot>.NewValueSome(new IncomingSnapshot(writer.TransferId, meta, writer.BytesWritten));
        return writer;
    }

    private static Microsoft.FSharp.Core.FSharpValueOption<TV> FSharpValueOptionNone<TV>() => Microsoft.FSharp.Core.FSharpValueOption<TV>.ValueNone;
}
