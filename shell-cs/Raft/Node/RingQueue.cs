namespace Raft.Node;

/// <summary>A growable double-ended queue over a ring buffer (loop thread only).</summary>
internal sealed class RingQueue<T>
{
    private T[] _items = new T[8];
    private int _head, _count;

    public int Count => _count;

    public T PeekFirst() => _items[_head];

    public T PeekLast() => _items[(_head + _count - 1) & (_items.Length - 1)];

    /// <summary>The item <paramref name="i"/> places from the front (0 is the first).</summary>
    public T this[int i] => _items[(_head + i) & (_items.Length - 1)];

    public void AddLast(T item)
    {
        if (_count == _items.Length) Grow();
        _items[(_head + _count) & (_items.Length - 1)] = item;
        _count++;
    }

    public T RemoveFirst()
    {
        var item = _items[_head];
        _items[_head] = default!;
        _head = (_head + 1) & (_items.Length - 1);
        _count--;
        return item;
    }

    public T RemoveLast()
    {
        var i = (_head + _count - 1) & (_items.Length - 1);
        var item = _items[i];
        _items[i] = default!;
        _count--;
        return item;
    }

    private void Grow()
    {
        var bigger = new T[_items.Length * 2];
        for (var i = 0; i < _count; i++) bigger[i] = _items[(_head + i) & (_items.Length - 1)];
        _items = bigger;
        _head = 0;
    }
}
