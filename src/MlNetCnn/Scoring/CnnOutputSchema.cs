using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// The columns a <see cref="CnnTransformer"/> adds, in this order: Score (class probabilities), PredictedLabel (a key)
/// and, when enabled, the embedding (penultimate-layer features).
/// </summary>
internal static class CnnOutputSchema
{
    internal const string ScoreColumnKind = "ScoreColumnKind";
    internal const string ScoreValueKind = "ScoreValueKind";
    internal const string MulticlassKind = "MulticlassClassification";

    public static DataViewSchema Build(DataViewSchema input, int classCount, LabelKeyValues? keyValues,
        string? embeddingColumnName = null, int embeddingSize = 0)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(input);
        builder.AddColumn(DefaultColumnNames.Score, ScoreType(classCount), ScoreAnnotations(classCount, keyValues));
        builder.AddColumn(DefaultColumnNames.PredictedLabel, PredictedLabelType(classCount), PredictedLabelAnnotations(keyValues));
        if (embeddingColumnName != null)
            builder.AddColumn(embeddingColumnName, new VectorDataViewType(NumberDataViewType.Single, embeddingSize));
        return builder.ToSchema();
    }

    public static VectorDataViewType ScoreType(int classCount) => new(NumberDataViewType.Single, classCount);

    public static KeyDataViewType PredictedLabelType(int classCount) => new(typeof(uint), classCount);

    public static DataViewSchema.Annotations ScoreAnnotations(int classCount, LabelKeyValues? keyValues)
    {
        var annotations = new DataViewSchema.Annotations.Builder();
        if (keyValues != null)
        {
            var names = keyValues.SlotNames();
            annotations.AddSlotNames(classCount,
                (ref VBuffer<ReadOnlyMemory<char>> destination) =>
                    new VBuffer<ReadOnlyMemory<char>>(names.Length, names).CopyTo(ref destination));
        }
        AddText(annotations, ScoreColumnKind, MulticlassKind);
        AddText(annotations, ScoreValueKind, "Score");
        return annotations.ToAnnotations();
    }

    public static DataViewSchema.Annotations PredictedLabelAnnotations(LabelKeyValues? keyValues)
    {
        var annotations = new DataViewSchema.Annotations.Builder();
        keyValues?.AddKeyValues(annotations);
        AddText(annotations, ScoreColumnKind, MulticlassKind);
        AddText(annotations, ScoreValueKind, DefaultColumnNames.PredictedLabel);
        return annotations.ToAnnotations();
    }

    private static void AddText(DataViewSchema.Annotations.Builder annotations, string kind, string value)
        => annotations.Add(kind, TextDataViewType.Instance, (ref ReadOnlyMemory<char> destination) => destination = value.AsMemory());
}
