using Microsoft.FSharp.Core;
using Raft.Core;
using Raft.Serialization;
using Raft.Storage;

namespace Raft.Node;

/// <summary>Builds a group's starting core state from its storage: a brand-new group is bootstrapped, an existing
/// one is restored from its hard state, snapshot, log terms and a tail of recent entries.</summary>
internal static class GroupRestore
{
    public static State<T> Load<T, TResult>(RaftOptions options, long[] voters, GroupStorage storage, IStateMachine<T, TResult> stateMachine,
        RaftMessageCodec<T> codec, int tailEntries, out bool restored)
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
            if (!continues) RaftNodeHost<T, TResult>.ResetLogTo(log, snapIndex, snapshotMeta.Value.Term);
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
        if (last >= first && tailEntries > 0)
        {
            long from = Math.Max(first, last - tailEntries + 1);
            var records = log.ReadRange(from, last);
            tail = new Entry<T>[records.Count];
            for (var i = 0; i < tail.Length; i++) tail[i] = codec.DecodeEntry(records[i].Payload);
        }

        var info = new RestoreInfo<T>(hard, snapshotMeta, last,
            runs.Select(r => new ValueTuple<long, long>(r.Item1, r.Item2)).ToArray(), tail, snapIndex,
            // Partial snapshot files are not fsynced chunk by chunk, so a restarted transfer starts from offset 0.
            FSharpValueOption<IncomingSnapshot>.None);
        return RaftNode.Restore(options, info);
    }

    private static Microsoft.FSharp.Core.FSharpValueOption<TV> FSharpValueOptionNone<TV>() => Microsoft.FSharp.Core.FSharpValueOption<TV>.ValueNone;
}
