namespace MlNetCnn;

/// <summary>The seeded, per-class selection behind <see cref="DataSplit"/> and <c>CnnTrainerOptions.ValidationFraction</c>.</summary>
internal static class StratifiedSampler
{
    /// <summary>
    /// Picks <paramref name="fraction"/> of the rows of every class (at least one of a class with two or more rows,
    /// never all of them), chosen with <paramref name="seed"/>; returns the picked row indices in ascending order.
    /// </summary>
    /// <param name="classOfRow">A class id for every row; classes are visited in ascending id order.</param>
    /// <param name="fraction">The share of every class to pick, in (0, 1).</param>
    /// <param name="seed">Seeds the choice.</param>
    /// <param name="rows">What the rows are, for the error message.</param>
    /// <exception cref="InvalidOperationException">No row is picked: every class has fewer than 2 rows.</exception>
    public static int[] Pick(IReadOnlyList<int> classOfRow, double fraction, int seed, string rows = "rows")
    {
        var random = new Random(seed);
        var picked = new List<int>();
        foreach (var group in Enumerable.Range(0, classOfRow.Count).GroupBy(i => classOfRow[i]).OrderBy(g => g.Key))
        {
            int[] members = group.ToArray();
            random.Shuffle(members);
            int take = members.Length < 2 ? 0 : Math.Clamp((int)Math.Round(members.Length * fraction), 1, members.Length - 1);
            picked.AddRange(members.Take(take));
        }
        if (picked.Count == 0)
            throw new InvalidOperationException($"A validation fraction of {fraction} leaves no validation {rows}: "
                + $"every class has fewer than 2 {rows}.");
        picked.Sort();
        return picked.ToArray();
    }
}
