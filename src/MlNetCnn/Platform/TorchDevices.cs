using TorchSharp;

namespace MlNetCnn.Platform;

/// <summary>Maps <see cref="CnnDevice"/> to a TorchSharp device, with a clear error when CUDA is not available.</summary>
internal static class TorchDevices
{
    public static torch.Device Resolve(CnnDevice device)
    {
        if (!device.IsCuda)
            return torch.CPU;
        if (!torch.cuda.is_available())
        {
            throw new InvalidOperationException(
                $"CnnTrainerOptions.Device is {device}, but CUDA is not available to TorchSharp. The application chooses TorchSharp's native " +
                "backend: reference TorchSharp-cuda-linux (or TorchSharp-cuda-windows) instead of TorchSharp-cpu (in the MlNetCnn repository: " +
                "build with -p:TorchBackend=cuda-linux), and make sure an NVIDIA driver is installed.");
        }
        int count = torch.cuda.device_count();
        if (device.Index >= count)
            throw new InvalidOperationException($"CnnTrainerOptions.Device is {device}, but only {count} CUDA device(s) exist.");
        return new torch.Device(DeviceType.CUDA, device.Index);
    }
}
