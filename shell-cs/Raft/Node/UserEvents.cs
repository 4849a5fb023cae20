namespace Raft.Node;

/// <summary>Raises events whose handlers are user code: on the thread pool, never on the node loop, and a throwing
/// handler must not break the node.</summary>
internal static class UserEvents
{
    public static void Raise<TArgs>(EventHandler<TArgs>? handler, object sender, TArgs args)
    {
        if (handler is null) return;
        ThreadPool.UnsafeQueueUserWorkItem(static state =>
        {
            var (h, s, a) = state;
            try { h(s, a); } catch { /* a user handler must not break the node */ }
        }, (handler, sender, args), preferLocal: false);
    }
}
