namespace TokenFactory.Models.Synthetic;

/// <summary>A write-only pass-through stream that reports how many bytes went through.</summary>
internal sealed class ProgressStream(Stream inner, Action<long> onWrite) : Stream
{
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
    public override void Flush() => inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count)
    {
        inner.Write(buffer, offset, count);
        onWrite(count);
    }

    public override void WriteByte(byte value)
    {
        inner.WriteByte(value);
        onWrite(1);
    }
}
