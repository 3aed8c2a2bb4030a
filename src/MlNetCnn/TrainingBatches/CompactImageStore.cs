namespace MlNetCnn;

/// <summary>
/// Decoded images held compactly in memory: one byte per value with a per-channel <see cref="ChannelPalette"/> while
/// every channel holds at most 256 distinct values (any dataset of 8-bit images), otherwise 4-byte floats. Batches are
/// converted back to float as they are copied into the batch tensor, giving exactly the values that were read.
/// Storage is split into blocks of about 64 MiB, so the size is limited by memory, not by the largest array.
/// </summary>
internal sealed class CompactImageStore
{
    private const long BlockBytes = 64L << 20;
    private readonly ChannelPalette[] _palettes;
    private readonly List<byte[]> _byteBlocks = [];
    private readonly List<float[]> _floatBlocks = [];
    private readonly byte[] _codes;
    private readonly long _budgetBytes;
    private int _imagesPerBlock;

    /// <param name="shape">The image shape.</param>
    /// <param name="budgetBytes">The most memory the pixels may take; <see cref="TryAdd"/> refuses an image beyond it.</param>
    /// <param name="allowBytes">False stores floats from the start (the float path, for comparisons).</param>
    public CompactImageStore(ImageShape shape, long budgetBytes, bool allowBytes = true)
    {
        Shape = shape;
        _budgetBytes = budgetBytes;
        _palettes = Enumerable.Range(0, shape.Channels).Select(_ => new ChannelPalette()).ToArray();
        _codes = new byte[shape.Size];
        IsBytes = allowBytes;
        _imagesPerBlock = BlockImages(allowBytes ? 1 : sizeof(float));
    }

    public ImageShape Shape { get; }

    public int Count { get; private set; }

    /// <summary>True while every value is stored as one byte.</summary>
    public bool IsBytes { get; private set; }

    public int BytesPerValue => IsBytes ? 1 : sizeof(float);

    /// <summary>Memory the pixels take now.</summary>
    public long Bytes => (long)Count * Shape.Size * BytesPerValue;

    /// <summary>Appends an image; false (and nothing stored) when it would take the store over its budget.</summary>
    public bool TryAdd(ReadOnlySpan<float> image)
    {
        if (IsBytes && !Encode(image))
        {
            if ((long)(Count + 1) * Shape.Size * sizeof(float) > _budgetBytes)
                return false;
            ConvertToFloat();
        }
        if (Bytes + (long)Shape.Size * BytesPerValue > _budgetBytes)
            return false;
        int block = Count / _imagesPerBlock, offset = Count % _imagesPerBlock * Shape.Size;
        if (IsBytes)
        {
            if (block == _byteBlocks.Count)
                _byteBlocks.Add(new byte[(long)_imagesPerBlock * Shape.Size]);
            _codes.CopyTo(_byteBlocks[block].AsSpan(offset));
        }
        else
        {
            if (block == _floatBlocks.Count)
                _floatBlocks.Add(new float[(long)_imagesPerBlock * Shape.Size]);
            image.CopyTo(_floatBlocks[block].AsSpan(offset));
        }
        Count++;
        return true;
    }

    /// <summary>Writes image <paramref name="index"/> as floats into <paramref name="destination"/>.</summary>
    public void CopyTo(int index, Span<float> destination)
    {
        int size = Shape.Size, block = index / _imagesPerBlock, offset = index % _imagesPerBlock * size;
        if (!IsBytes)
        {
            _floatBlocks[block].AsSpan(offset, size).CopyTo(destination);
            return;
        }
        var codes = _byteBlocks[block].AsSpan(offset, size);
        int plane = Shape.Height * Shape.Width;
        for (int c = 0; c < Shape.Channels; c++)
        {
            var values = _palettes[c].Values;
            var source = codes.Slice(c * plane, plane);
            var target = destination.Slice(c * plane, plane);
            for (int i = 0; i < source.Length; i++)
                target[i] = values[source[i]];
        }
    }

    /// <summary>Encodes the image into the scratch codes; false when a channel would need a 257th value.</summary>
    private bool Encode(ReadOnlySpan<float> image)
    {
        int plane = Shape.Height * Shape.Width;
        for (int c = 0; c < Shape.Channels; c++)
        {
            var palette = _palettes[c];
            int start = c * plane;
            for (int i = start; i < start + plane; i++)
            {
                if (!palette.TryEncode(image[i], out _codes[i]))
                    return false;
            }
        }
        return true;
    }

    private void ConvertToFloat()
    {
        int imagesPerBlock = BlockImages(sizeof(float));
        var floats = new List<float[]>();
        for (int i = 0; i < Count; i++)
        {
            int block = i / imagesPerBlock;
            if (block == floats.Count)
                floats.Add(new float[(long)imagesPerBlock * Shape.Size]);
            CopyTo(i, floats[block].AsSpan(i % imagesPerBlock * Shape.Size, Shape.Size));
        }
        _byteBlocks.Clear();
        _floatBlocks.AddRange(floats);
        _imagesPerBlock = imagesPerBlock;
        IsBytes = false;
    }

    private int BlockImages(int bytesPerValue) => (int)Math.Max(1, BlockBytes / ((long)Shape.Size * bytesPerValue));
}
