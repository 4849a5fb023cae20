using Microsoft.Win32.SafeHandles;

namespace Raft.Storage;

/// <summary>The writes and fdatasyncs by which a <see cref="SharedLog"/> makes its batches durable, in one place so a
/// test can make them fail the way a full or failing disk does (set <see cref="SharedLogOptions.Disk"/>).</summary>
internal class SharedLogDisk
{
    public static readonly SharedLogDisk Real = new();

    public virtual void Write(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset, string path) => RandomAccess.Write(handle, data, offset);

    public virtual void DataSync(SafeFileHandle handle, string path) => NativeMethods.DataSync(handle, path);
}
