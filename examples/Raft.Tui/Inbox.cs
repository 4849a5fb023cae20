using System.Collections.Concurrent;

namespace Raft.Tui;

/// <summary>Changes to the model from the poller and the running actions, applied in order by the UI's loop (the
/// model's only writer), so the model needs no locks.</summary>
public sealed class Inbox
{
    private readonly ConcurrentQueue<Action<ClusterModel>> _queue = new();

    public void Post(Action<ClusterModel> change) => _queue.Enqueue(change);

    /// <summary>Applies every queued change; returns whether there was any.</summary>
    public bool Drain(ClusterModel model)
    {
        var any = false;
        while (_queue.TryDequeue(out var change))
        {
            change(model);
            any = true;
        }
        return any;
    }
}
