"""Real PyTorch side of PyTorchParityTests (Debian's python3-torch 1.13 and python3-torchvision 0.14).

export DIR NAME...   builds each torchvision model with seeded random weights (batch-norm statistics too), saves its
                     state_dict as DIR/NAME.pt (and an ONNX export as DIR/NAME.onnx) and its logits on DIR/input.bin (float32 [2,3,64,64]) as DIR/NAME.logits.bin
check DIR NAME FILE  loads FILE (.pt via torch.load, or .safetensors) into a fresh torchvision NAME with strict=True and
                     writes its logits on DIR/input.bin to FILE.logits.bin
"""
import json
import struct
import sys

import torch
import torchvision

CLASSES = 10
SHAPE = (2, 3, 64, 64)


def build(name):
    models = torchvision.models
    if name == "resnet18":
        return models.resnet18(num_classes=CLASSES)
    if name == "vgg11_bn":
        return models.vgg11_bn(num_classes=CLASSES)
    if name == "densenet121":
        return models.densenet121(num_classes=CLASSES)
    if name == "googlenet":
        return models.googlenet(num_classes=CLASSES, aux_logits=False, init_weights=True, transform_input=False)
    raise SystemExit("unknown model " + name)


def randomize_batch_norms(model, generator):
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)


def read_input(folder):
    with open(folder + "/input.bin", "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(SHAPE)


def logits(model, x, path):
    model.eval()
    with torch.no_grad():
        model(x).contiguous().numpy().astype("<f4").tofile(path)


def read_safetensors(path):
    types = {"F32": torch.float32, "I64": torch.int64, "F64": torch.float64, "I32": torch.int32}
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    state = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        tensor = torch.frombuffer(bytearray(body[begin:end]), dtype=types[entry["dtype"]]) if end > begin else torch.empty(0, dtype=types[entry["dtype"]])
        state[key] = tensor.reshape(entry["shape"]).clone()
    return state


def main():
    command, folder = sys.argv[1], sys.argv[2]
    if command == "export":
        torch.manual_seed(12)
        torch.randn(SHAPE).contiguous().numpy().astype("<f4").tofile(folder + "/input.bin")
        for i, name in enumerate(sys.argv[3:]):
            torch.manual_seed(100 + i)
            model = build(name)
            randomize_batch_norms(model, torch.Generator().manual_seed(200 + i))
            torch.save(model.state_dict(), "%s/%s.pt" % (folder, name))
            if name in ("resnet18", "googlenet"):
                # torch.onnx folds each batch norm into its convolution's weights and bias in evaluation mode.
                model.eval()
                torch.onnx.export(model, torch.zeros(1, *SHAPE[1:]), "%s/%s.onnx" % (folder, name), opset_version=11)
            logits(model, read_input(folder), "%s/%s.logits.bin" % (folder, name))
    elif command == "check":
        name, path = sys.argv[3], sys.argv[4]
        state = read_safetensors(path) if path.endswith(".safetensors") else torch.load(path)
        model = build(name)
        model.load_state_dict(state, strict=True)
        logits(model, read_input(folder), path + ".logits.bin")
    else:
        raise SystemExit("unknown command " + command)


if __name__ == "__main__":
    main()
