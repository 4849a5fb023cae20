namespace Raft.Storage;

/// <summary>One group's log inside a <see cref="SharedLog"/>. Writes are staged in the shared log and become durable
/// with its next commit: <see cref="Flush"/> commits every group's staged writes at once. <see cref="CompactPrefix"/>
/// commits before it returns, as the interface promises. Disposing the view leaves the group in the log.</summary>
public sealed class SharedGroupLog : ILogStorage
{
    private readonly SharedLog _log;
    private readonly SharedGroupState _group;

    internal SharedGroupLog(SharedLog log, SharedGroupState group)
    {
        _log = log;
        _group = group;
    }

    /// <summary>The group's id.</summary>
    public long GroupId => _group.Id;

    /// <summary>The shared log this group lives in.</summary>
    public SharedLog Log => _log;

    public long FirstIndex
    {
        get { lock (_log.Gate) { _log.ThrowIfGone(_group); return _group.FirstIndex; } }
    }

    public long LastIndex
    {
        get { lock (_log.Gate) { _log.ThrowIfGone(_group); return _group.LastIndex; } }
    }

    public long TermAt(long index)
    {
        lock (_log.Gate)
        {
            _log.ThrowIfGone(_group);
            if (index < _group.FirstIndex - 1 || index > _group.LastIndex) throw LogContract.TermOutOfRange(index, _group.FirstIndex, _group.LastIndex);
            return _group.TermAt(index);
        }
    }

    public void Append(ReadOnlySpan<LogRecord> records)
    {
        if (records.IsEmpty) return;
        lock (_log.Gate)
        {
            _log.ThrowIfGone(_group);
            LogContract.CheckAppend(records, _group.FirstIndex, _group.LastIndex, _group.TermAt);
            _log.StageEntries(_group, records);
        }
    }

    public IReadOnlyList<LogRecord> ReadRange(long from, long toInclusive, long maxBytes = long.MaxValue)
    {
        lock (_log.Gate)
        {
            _log.ThrowIfGone(_group);
            LogContract.CheckRead(from, _group.FirstIndex);
            long to = Math.Min(toInclusive, _group.LastIndex);
            var result = new List<LogRecord>(to >= from ? (int)Math.Min(to - from + 1, 1024) : 0);
            long bytes = 0;
            for (long i = from; i <= to; i++)
            {
                ref var e = ref _group.At(i);
                bytes += e.Length;
                if (result.Count > 0 && bytes > maxBytes) break;
                result.Add(new LogRecord(i, e.Term, _log.ReadPayload(e)));
            }
            return result;
        }
    }

    public void TruncateSuffix(long fromIndex)
    {
        lock (_log.Gate)
        {
            _log.ThrowIfGone(_group);
            LogContract.CheckTruncate(fromIndex, _group.FirstIndex);
            if (fromIndex <= _group.LastIndex) _log.StageTruncate(_group, fromIndex);
        }
    }

    public void CompactPrefix(long upToInclusive, long termAtThatIndex)
    {
        lock (_log.Gate)
        {
            _log.ThrowIfGone(_group);
            if (upToInclusive < _group.FirstIndex) return;
            bool keepLater = upToInclusive < _group.LastIndex && _group.TermAt(upToInclusive) == termAtThatIndex;
            _log.StageCompaction(_group, upToInclusive, termAtThatIndex, keepLater);
            _log.CommitLocked();
        }
    }

    /// <summary>Commits the shared log: every group's staged writes become durable with one fdatasync.</summary>
    public void Flush() => _log.Commit();

    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _log.Commit();
        return ValueTask.CompletedTask;
    }

    /// <summary>Nothing to release: the group stays in the shared log (remove it with <see cref="SharedLog.RemoveGroup"/>).</summary>
    public void Dispose() { }
}

/// <summary>One group's hard state inside a <see cref="SharedLog"/>: <see cref="Save"/> stages and commits;
/// <see cref="Stage"/> only stages, for a caller that commits every group of a round at once.</summary>
public sealed class SharedHardState : IHardStateStore
{
    private readonly SharedLog _log;
    private readonly SharedGroupState _group;

    internal SharedHardState(SharedLog log, SharedGroupState group)
    {
        _log = log;
        _group = group;
    }

    /// <summary>The shared log this group lives in.</summary>
    public SharedLog Log => _log;

    public byte[]? Load()
    {
        lock (_log.Gate)
        {
            _log.ThrowIfGone(_group);
            return (byte[]?)_group.HardState?.Clone();
        }
    }

    /// <summary>Stages the hard state and commits the shared log (durable when it returns).</summary>
    public void Save(ReadOnlySpan<byte> state)
    {
        lock (_log.Gate)
        {
            Stage(state);
            _log.CommitLocked();
        }
    }

    /// <summary>Stages the hard state in the same batch as the group's staged entries; durable with the next commit.</summary>
    public void Stage(ReadOnlySpan<byte> state)
    {
        lock (_log.Gate)
        {
            _log.ThrowIfGone(_group);
            _log.StageHardState(_group, state);
        }
    }
}
