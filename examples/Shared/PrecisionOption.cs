using MlNetCnn;
using MlNetCnn.Platform;

namespace MlNetCnn.Examples;

/// <summary>The examples' <c>--precision float32|bfloat16</c> option.</summary>
internal static class PrecisionOption
{
    /// <summary>bfloat16 mixed precision where this CPU computes it natively, or float32.</summary>
    public static TrainingPrecision Read(CommandLine commandLine, string defaultValue = "float32")
        => commandLine.Choice("--precision", defaultValue, "float32", "bfloat16") == "bfloat16"
        ? TrainingPrecision.MixedBFloat16WhereNative : TrainingPrecision.Float32;

    /// <summary>Whether a run with <paramref name="precision"/> trains in bfloat16 on this machine.</summary>
    public static bool RunsInBFloat16(TrainingPrecision precision) => precision switch
    {
        TrainingPrecision.Float32 => false,
        TrainingPrecision.MixedBFloat16WhereNative => TorchRuntime.HasNativeBFloat16 && TorchRuntime.UseOneDnn,
        _ => true,
    };

    /// <summary>What a run with <paramref name="precision"/> computes in on this machine, for the run's description line.</summary>
    public static string Describe(TrainingPrecision precision) => precision switch
    {
        TrainingPrecision.Float32 => "",
        TrainingPrecision.MixedBFloat16WhereNative when RunsInBFloat16(precision) => ", bfloat16 mixed precision",
        TrainingPrecision.MixedBFloat16WhereNative => ", float32 (bfloat16 asked for, but this CPU has no bfloat16 instructions, or oneDNN is off)",
        _ => ", bfloat16 mixed precision (emulated where the CPU lacks bfloat16 instructions)",
    };
}
