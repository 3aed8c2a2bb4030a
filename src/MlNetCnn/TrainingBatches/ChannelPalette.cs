namespace MlNetCnn;

/// <summary>
/// Up to 256 distinct values of one image channel, each given a one-byte code. Pixels read from 8-bit images keep at
/// most 256 values per channel through any per-channel scaling (ExtractPixels' scale and offset, NormalizeImages), so
/// such a channel is stored as bytes and decoded back to exactly the same floats (compared bit for bit).
/// </summary>
internal sealed class ChannelPalette
{
    private readonly float[] _values = new float[256];
    private readonly bool[] _used = new bool[256];
    private readonly Dictionary<int, byte> _codes = [];

    /// <summary>The value of each code.</summary>
    public ReadOnlySpan<float> Values => _values;

    /// <summary>Finds or assigns the code of <paramref name="value"/>; false when the channel already holds 256 other values.</summary>
    public bool TryEncode(float value, out byte code)
    {
        // Pixels scaled to 0..1 or left at 0..255 hit their own slot directly, without a dictionary lookup.
        int bits = BitConverter.SingleToInt32Bits(value);
        int guess = Guess(value);
        if (guess >= 0 && _used[guess] && BitConverter.SingleToInt32Bits(_values[guess]) == bits)
        {
            code = (byte)guess;
            return true;
        }
        if (_codes.TryGetValue(bits, out code))
            return true;
        if (_codes.Count == 256)
            return false;
        int slot = guess >= 0 && !_used[guess] ? guess : Array.IndexOf(_used, false);
        _used[slot] = true;
        _values[slot] = value;
        code = (byte)slot;
        _codes.Add(bits, code);
        return true;
    }

    private static int Guess(float value)
    {
        float scaled = value <= 1f ? value * 255f : value;
        return scaled >= 0f && scaled <= 255f ? (int)(scaled + 0.5f) : -1;
    }
}
