using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Persistence.Onnx;

/// <summary>
/// The ONNX graph being built by ML.NET's converter (<c>mlContext.Model.ConvertToOnnx</c>), seen through the few
/// operations MlNetCnn needs. ML.NET's own contract (<c>OnnxContext</c>) is internal; its adapter lives in
/// <see cref="MlNetInternals"/>, so the graph-writing code here touches no ML.NET internals.
/// </summary>
internal interface IOnnxGraph
{
    /// <summary>The variable that holds the data view column <paramref name="columnName"/> at this point of the pipeline.</summary>
    string ColumnVariable(string columnName);

    /// <summary>
    /// Declares that the pipeline step writes column <paramref name="columnName"/> of <paramref name="type"/>; returns
    /// the new variable, which a node must then produce. Later steps and the graph outputs see the column there.
    /// </summary>
    string DeclareColumn(string columnName, DataViewType type);

    /// <summary>A fresh variable for an intermediate result (its shape is left to the runtime).</summary>
    string Intermediate(string prefix);

    /// <summary>A float tensor stored in the model (weights); returns its variable name.</summary>
    string Initializer(string name, float[] values, IReadOnlyList<long> dims);

    /// <summary>An int64 tensor stored in the model (shapes, axes, slice bounds); returns its variable name.</summary>
    string Initializer(string name, IReadOnlyList<long> values, IReadOnlyList<long> dims);

    /// <summary>Adds a node of the standard ONNX domain; attributes are set on the returned node.</summary>
    IOnnxNode Node(string opType, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs);
}

/// <summary>Attributes of one ONNX node.</summary>
internal interface IOnnxNode
{
    IOnnxNode Attribute(string name, long value);

    IOnnxNode Attribute(string name, float value);

    IOnnxNode Attribute(string name, IReadOnlyList<long> values);

    IOnnxNode Attribute(string name, string value);
}

/// <summary>A pipeline step that writes its own ONNX nodes when ML.NET's converter walks the chain.</summary>
internal interface IOnnxExportable
{
    /// <summary>Adds the nodes that compute this step's output columns from its input columns (of <paramref name="inputSchema"/>).</summary>
    void ExportOnnx(IOnnxGraph graph, DataViewSchema inputSchema);
}
