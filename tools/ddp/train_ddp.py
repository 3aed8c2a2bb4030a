#!/usr/bin/env python3
"""Train an MlNetCnn network on many processes, GPUs or machines with PyTorch DistributedDataParallel.

The library writes its weights with torchvision's state_dict names (CnnTransformer.SaveWeights("start.safetensors")),
this script loads them into the matching torchvision model, trains it with DistributedDataParallel and writes the
result as .safetensors, which the library reads back (PretrainedWeights.FromFile) to score in ML.NET.

Launch with torchrun, one process per GPU (NCCL) or per CPU slot (gloo), on one machine or many:

  torchrun --nproc_per_node=2 tools/ddp/train_ddp.py --arch resnet18 --classes 10 \
      --weights start.safetensors --data train.safetensors --out trained.safetensors --epochs 5
  # several machines: add --nnodes=4 --rdzv_backend=c10d --rdzv_endpoint=<host>:29400 on every machine

or, on one machine without torchrun, --processes N starts N processes itself (torch.multiprocessing; the tests use
this: Debian's torch 1.13 torchrun fails at start-up under Python 3.12+ in torch.distributed.elastic's redirect map).

Data (--data): a .safetensors file with "images" (float32, N x C x H x W, the pixels the ML.NET pipeline gives the
trainer) and "labels" (int64, N, class index 0..classes-1 = ML.NET key - 1). --mean/--std standardize per channel as
CnnTransformer.InputMean/InputStandardDeviation do (the weights file does not carry them).
--eval FILE --eval-out FILE: after training, rank 0 writes "probabilities" (softmax, eval mode) of FILE's "images".

Plain Python + torch only (no safetensors package needed): the format is an 8-byte little-endian header length,
a JSON header {name: {dtype, shape, data_offsets}}, then the raw little-endian data.
"""
import argparse
import json
import os
import socket
import struct
import sys

import torch
import torch.distributed as dist
import torchvision

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "I64": torch.int64, "I32": torch.int32,
          "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
NAMES = {v: k for k, v in DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024


def read_safetensors(path):
    """Reads every tensor of a .safetensors file; sizes are checked against the file before anything is allocated."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        (header_length,) = struct.unpack("<Q", raw)
        if header_length > min(MAX_HEADER, size - 8):
            raise ValueError(f"{path}: header length {header_length} does not fit the file ({size} bytes)")
        header = json.loads(f.read(header_length))
        data_start = 8 + header_length
        tensors = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dtype = DTYPES.get(info["dtype"])
            if dtype is None:
                raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
            begin, end = info["data_offsets"]
            count = 1
            for d in info["shape"]:
                count *= d
            element = torch.tensor([], dtype=dtype).element_size()
            if not (0 <= begin <= end <= size - data_start) or end - begin != count * element:
                raise ValueError(f"{path}: tensor {name} ({info['shape']}, {info['dtype']}) does not match its data offsets {begin}..{end}")
            f.seek(data_start + begin)
            data = bytearray(f.read(end - begin))
            tensors[name] = (torch.frombuffer(data, dtype=dtype) if count else torch.empty(0, dtype=dtype)).reshape(info["shape"]).clone()
        return tensors


def write_safetensors(path, tensors):
    """Writes tensors atomically: a temporary file in the same folder, flushed and synced, then renamed."""
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        tensor = tensor.detach().cpu().contiguous()
        blob = tensor.numpy().tobytes() if tensor.dtype != torch.bool else tensor.to(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": NAMES[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def build_model(arch, classes):
    """The torchvision model whose state_dict names match MlNetCnn's architecture of the same name."""
    if arch == "googlenet":  # MlNetCnn's GoogLeNet has no auxiliary heads
        return torchvision.models.googlenet(num_classes=classes, aux_logits=False, init_weights=False)
    if arch in ("resnet18", "resnet34", "resnet50", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "densenet121", "alexnet"):
        return getattr(torchvision.models, arch)(num_classes=classes)
    raise ValueError(f"--arch {arch}: use resnet18|resnet34|resnet50|vgg11_bn|vgg13_bn|vgg16_bn|vgg19_bn|densenet121|googlenet|alexnet")


def standardize(images, mean, std):
    if mean is None:
        return images
    shape = (1, -1, 1, 1)
    return (images - torch.tensor(mean).reshape(shape)) / torch.tensor(std).reshape(shape)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--classes", type=int, required=True)
    parser.add_argument("--weights", required=True, help="the library's weights (CnnTransformer.SaveWeights)")
    parser.add_argument("--data", required=True, help=".safetensors with images (N,C,H,W float32) and labels (N int64)")
    parser.add_argument("--out", required=True, help="the trained weights, for PretrainedWeights.FromFile")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32, help="per process")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mean", type=float, nargs="*")
    parser.add_argument("--std", type=float, nargs="*")
    parser.add_argument("--eval", help=".safetensors with images to score after training (rank 0)")
    parser.add_argument("--eval-out", help="where rank 0 writes their probabilities")
    parser.add_argument("--processes", type=int, help="start this many processes on this machine (instead of torchrun)")
    args = parser.parse_args()
    if (args.mean is None) != (args.std is None):
        parser.error("--mean and --std go together")
    if args.eval and not args.eval_out:
        parser.error("--eval needs --eval-out")
    if args.processes:
        with socket.socket() as probe:  # a free port for the rendezvous
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        torch.multiprocessing.spawn(spawned, args=(args, port), nprocs=args.processes, join=True)
    else:
        train(args)


def spawned(rank, args, port):
    """One process of --processes: the environment torchrun would give it."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(args.processes))
    train(args)


def train(args):
    # torchrun (or spawned) sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT.
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    torch.manual_seed(args.seed)

    model = build_model(args.arch, args.classes)
    model.load_state_dict(read_safetensors(args.weights), strict=True)
    model = torch.nn.parallel.DistributedDataParallel(model.to(device), device_ids=[device.index] if cuda else None)

    data = read_safetensors(args.data)
    images, labels = standardize(data["images"].float(), args.mean, args.std), data["labels"].long()
    dataset = torch.utils.data.TensorDataset(images, labels)
    sampler = torch.utils.data.distributed.DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, sampler=sampler)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        model.train()
        total, count = torch.zeros(2, device=device), 0
        for x, y in loader:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x.to(device)), y.to(device))
            loss.backward()  # DDP averages the gradients over all processes here
            optimizer.step()
            total += torch.tensor([loss.item() * len(y), len(y)], device=device)
        dist.all_reduce(total)
        if rank == 0:
            print(f"epoch {epoch + 1}/{args.epochs}: loss {total[0].item() / total[1].item():.4f} over {int(total[1].item())} images on {world} processes", flush=True)

    if rank == 0:
        trained = model.module
        write_safetensors(args.out, trained.state_dict())
        print(f"wrote {args.out}", flush=True)
        if args.eval:
            trained.eval()
            with torch.no_grad():
                evaluation = standardize(read_safetensors(args.eval)["images"].float(), args.mean, args.std).to(device)
                probabilities = torch.softmax(trained(evaluation), dim=1)
            write_safetensors(args.eval_out, {"probabilities": probabilities})
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
