using Microsoft.ML.Data;

namespace MlNetCnn;

internal static class VBufferExtensions
{
    /// <summary>Copies a possibly sparse buffer into a dense span of its full length.</summary>
    public static void CopyTo(this in VBuffer<float> buffer, Span<float> destination)
    {
        var values = buffer.GetValues();
        if (buffer.IsDense)
        {
            values.CopyTo(destination);
            return;
        }
        destination.Clear();
        var indices = buffer.GetIndices();
        for (int i = 0; i < indices.Length; i++)
            destination[indices[i]] = values[i];
    }
}
