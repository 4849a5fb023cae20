namespace Raft.KeyValue.Server;

/// <summary>
/// Wakes long polls (<c>GET /kv/{key}?wait=</c>) when their key's group applies a write on this node. Only keys
/// someone waits on have an entry, so with thousands of idle keys an apply costs one volatile read; no timers here
/// (a poll's timeout is its own wait on a task). A wake-up says only "look again": the poll reads the key the way a
/// plain GET does, so what it answers is as consistent as that GET.
/// </summary>
public sealed class KvWatch : IKeyApplied
{
    private readonly Dictionary<string, Entry> _keys = new(StringComparer.Ordinal);
    // _keys.Count, readable on the node loop without the lock.
    private volatile int _watched;

    /// <summary>Watches the applies of <paramref name="node"/>.</summary>
    public KvWatch(KvNode node)
    {
        node.ObserveApplied(this);
    }

    /// <summary>Keys with at least one waiter.</summary>
    public int WatchedKeys => _watched;

    /// <summary>Starts watching <paramref name="key"/>; dispose the watcher to stop.</summary>
    public Watcher Watch(string key)
    {
        lock (_keys)
        {
            if (!_keys.TryGetValue(key, out var entry)) _keys[key] = entry = new Entry();
            entry.Refs++;
            _watched = _keys.Count;
            return new Watcher(this, key, entry);
        }
    }

    /// <inheritdoc />
    public void Applied(long groupId, string key, long index, long term, long version)
    {
        if (_watched == 0) return;
        TaskCompletionSource fired;
        lock (_keys)
        {
            if (!_keys.TryGetValue(key, out var entry)) return;
            fired = entry.Pulse;
            entry.Pulse = NewPulse();
        }
        // Continuations run on the thread pool (RunContinuationsAsynchronously), never on the node loop.
        fired.TrySetResult();
    }

    private void Release(string key, Entry entry)
    {
        lock (_keys)
        {
            if (--entry.Refs == 0) _keys.Remove(key);
            _watched = _keys.Count;
        }
    }

    private static TaskCompletionSource NewPulse() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal sealed class Entry
    {
        public TaskCompletionSource Pulse = NewPulse();
        public int Refs;
    }

    /// <summary>One waiter's hold on a key.</summary>
    public sealed class Watcher : IDisposable
    {
        private readonly KvWatch _watch;
        private readonly string _key;
        private readonly Entry _entry;
        private int _disposed;

        internal Watcher(KvWatch watch, string key, Entry entry) => (_watch, _key, _entry) = (watch, key, entry);

        /// <summary>Completes at the key's next apply on this node. Take it before reading the key, so an apply
        /// between the read and the wait is not missed.</summary>
        public Task Next()
        {
            lock (_watch._keys) return _entry.Pulse.Task;
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) _watch.Release(_key, _entry);
        }
    }
}
