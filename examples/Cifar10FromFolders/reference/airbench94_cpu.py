#!/usr/bin/python3
"""airbench94 (K. Jordan, 2024, https://github.com/KellerJordan/cifar10-airbench) re-implemented for CPU on Debian's
PyTorch 1.13, as a reference for `Cifar10FromFolders --recipe fast`: the same network, hyperparameters and schedule,
trained on the same JPGs and evaluated on the same stratified hold-out (the split `DataSplit.StratifiedTrainValidation`
makes with seed 1, reproduced below), so the two figures differ only by implementation.

    /usr/bin/python3 examples/Cifar10FromFolders/reference/airbench94_cpu.py --data ../shared/datasets/cifar10-train-jpg.tar

Differences from the GPU script, all forced by the CPU: float32 instead of float16, no torch.compile, no channels_last,
the whitening covariance summed in double precision, and the whitening sample drawn at random (airbench's first 5,000
images are a random mix; these rows are grouped by class).
"""
import argparse
import io
import math
import os
import tarfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

HYP = dict(epochs=9.9, batch_size=1024, lr=11.5, momentum=0.85, weight_decay=0.0153, bias_scaler=64.0,
           label_smoothing=0.2, whiten_bias_epochs=3, translate=2, widths=(64, 256, 256), batchnorm_momentum=0.6,
           scaling_factor=1 / 9)
CIFAR_MEAN = torch.tensor((0.4914, 0.4822, 0.4465)).view(1, 3, 1, 1)
CIFAR_STD = torch.tensor((0.2470, 0.2435, 0.2616)).view(1, 3, 1, 1)


class DotNetRandom:
    """System.Random(seed) as .NET seeds it (Knuth's subtractive generator), so the hold-out matches the C# example's."""

    MBIG, MSEED = 2147483647, 161803398

    def __init__(self, seed):
        seeds = [0] * 56
        mj = self.MSEED - (self.MBIG if seed == -2147483648 else abs(seed))
        seeds[55], mk = mj, 1
        for i in range(1, 55):
            ii = (21 * i) % 55
            seeds[ii] = mk
            mk = mj - mk
            if mk < 0:
                mk += self.MBIG
            mj = seeds[ii]
        for _ in range(4):
            for i in range(1, 56):
                seeds[i] -= seeds[1 + (i + 30) % 55]
                if seeds[i] < 0:
                    seeds[i] += self.MBIG
        self.seeds, self.inext, self.inextp = seeds, 0, 21

    def _sample(self):
        self.inext = 1 if self.inext + 1 >= 56 else self.inext + 1
        self.inextp = 1 if self.inextp + 1 >= 56 else self.inextp + 1
        value = self.seeds[self.inext] - self.seeds[self.inextp]
        if value == self.MBIG:
            value -= 1
        if value < 0:
            value += self.MBIG
        self.seeds[self.inext] = value
        return value * (1.0 / self.MBIG)

    def next(self, low, high):
        return int(self._sample() * (high - low)) + low

    def shuffle(self, values):
        n = len(values)
        for i in range(n - 1):
            j = self.next(i, n)
            values[i], values[j] = values[j], values[i]


def stratified_holdout(labels, fraction, seed):
    """StratifiedSampler.Pick: per class in order of first appearance, shuffle its rows and take round(n * fraction)."""
    random = DotNetRandom(seed)
    picked = []
    for label in dict.fromkeys(labels):
        members = [i for i, l in enumerate(labels) if l == label]
        random.shuffle(members)
        # Python's round, like Math.Round, rounds halves to even.
        take = 0 if len(members) < 2 else min(max(int(round(len(members) * fraction)), 1), len(members) - 1)
        picked.extend(members[:take])
    return sorted(picked)


def load_jpgs(archive, per_class):
    """The <class>/<file>.jpg images of the archive, classes and files in ordinal order as ImageFolder.List gives them
    (the first per_class of each class when per_class > 0, as Cifar10FromFolders' --per-class takes them)."""
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.lower().endswith(('.jpg', '.jpeg', '.png'))]
        members.sort(key=lambda m: (m.name.split('/')[-2], m.name))
        if per_class:
            counts = {}
            kept = []
            for m in members:
                label = m.name.split('/')[-2]
                counts[label] = counts.get(label, 0) + 1
                if counts[label] <= per_class:
                    kept.append(m)
            members = kept
        labels = [m.name.split('/')[-2] for m in members]
        images = np.stack([np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert('RGB')) for m in members])
    return images, labels


class BatchNorm(nn.BatchNorm2d):
    def __init__(self, features, momentum):
        super().__init__(features, eps=1e-12, momentum=1 - momentum)
        self.weight.requires_grad = False


class Conv(nn.Conv2d):
    def __init__(self, cin, cout):
        super().__init__(cin, cout, kernel_size=3, padding='same', bias=False)

    def reset_parameters(self):
        super().reset_parameters()
        torch.nn.init.dirac_(self.weight.data[:self.weight.size(1)])


class ConvGroup(nn.Module):
    def __init__(self, cin, cout, momentum):
        super().__init__()
        self.conv1, self.pool, self.norm1 = Conv(cin, cout), nn.MaxPool2d(2), BatchNorm(cout, momentum)
        self.conv2, self.norm2, self.activ = Conv(cout, cout), BatchNorm(cout, momentum), nn.GELU()

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class Mul(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


def make_net():
    w, m = HYP['widths'], HYP['batchnorm_momentum']
    net = nn.Sequential(
        nn.Conv2d(3, 24, kernel_size=2, padding=0, bias=True), nn.GELU(),
        ConvGroup(24, w[0], m), ConvGroup(w[0], w[1], m), ConvGroup(w[1], w[2], m),
        nn.MaxPool2d(3), nn.Flatten(), nn.Linear(w[2], 10, bias=False), Mul(HYP['scaling_factor']))
    net[0].weight.requires_grad = False
    return net


def init_whitening(conv, images, eps=5e-4):
    c, (h, w) = images.shape[1], conv.weight.shape[2:]
    patches = images.unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c, h, w).float()
    # In double precision: a float32 sum over millions of patches on the CPU gives negative eigenvalues below -eps.
    flat = patches.view(len(patches), -1).double()
    eigenvalues, eigenvectors = torch.linalg.eigh(flat.T @ flat / len(flat), UPLO='U')
    eigenvalues, eigenvectors = eigenvalues.float(), eigenvectors.float()
    eigenvalues, eigenvectors = eigenvalues.flip(0).view(-1, 1, 1, 1), eigenvectors.T.reshape(c * h * w, c, h, w).flip(0)
    scaled = eigenvectors / torch.sqrt(eigenvalues + eps)
    conv.weight.data[:] = torch.cat((scaled, -scaled))


class Lookahead:
    def __init__(self, net):
        self.ema = {k: v.clone() for k, v in net.state_dict().items()}

    def update(self, net, decay):
        for ema, current in zip(self.ema.values(), net.state_dict().values()):
            if current.dtype == torch.float:
                ema.lerp_(current, 1 - decay)
                current.copy_(ema)


def batch_crop(padded, size, generator):
    """A random size×size window of every padded image (airbench's translation)."""
    n, pad = len(padded), (padded.shape[-1] - size) // 2
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    out = torch.empty(n, padded.shape[1], size, size)
    for x in range(2 * pad + 1):
        for y in range(2 * pad + 1):
            rows = ((dx == x) & (dy == y)).nonzero().flatten()
            out[rows] = padded[rows, :, y:y + size, x:x + size]
    return out


def infer(net, images, tta, batch=1000):
    net.eval()
    outputs = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = images[i:i + batch]
            mirror = lambda v: 0.5 * net(v) + 0.5 * net(v.flip(-1))
            if tta == 0:
                outputs.append(net(x))
            else:
                logits = mirror(x)
                padded = F.pad(x, (1,) * 4, 'reflect')
                shifted = torch.stack([mirror(padded[:, :, 0:32, 0:32]), mirror(padded[:, :, 2:34, 2:34])]).mean(0)
                outputs.append(0.5 * logits + 0.5 * shifted)
    return torch.cat(outputs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', default='../shared/datasets/cifar10-train-jpg.tar')
    parser.add_argument('--epochs', type=float, default=HYP['epochs'])
    parser.add_argument('--holdout', type=float, default=0.1)
    parser.add_argument('--per-class', type=int, default=0, help='the first N images of every class (0: all)')
    parser.add_argument('--batch-size', type=int, default=HYP['batch_size'])
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())  # Debian's build starts with one
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    clock = time.time()
    images, labels = load_jpgs(args.data, args.per_class)
    held = stratified_holdout(labels, args.holdout, seed=1)
    is_held = np.zeros(len(labels), bool)
    is_held[held] = True
    classes = list(dict.fromkeys(labels))
    targets = torch.tensor([classes.index(l) for l in labels])
    pixels = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - CIFAR_MEAN) / CIFAR_STD
    train_x, train_y = pixels[~is_held], targets[~is_held]
    test_x, test_y = pixels[is_held], targets[is_held]
    print(f'{len(train_x)} training and {len(test_x)} held-out images decoded in {time.time() - clock:.0f} s; '
          f'{torch.get_num_threads()} threads, PyTorch {torch.__version__}', flush=True)

    batch, momentum = args.batch_size, HYP['momentum']
    kilostep_scale = 1024 * (1 + 1 / (1 - momentum))
    lr = HYP['lr'] / kilostep_scale
    wd = HYP['weight_decay'] * batch / kilostep_scale
    lr_biases = lr * HYP['bias_scaler']

    net = make_net()
    steps_per_epoch = len(train_x) // batch
    total_steps = math.ceil(steps_per_epoch * args.epochs)
    norm_biases = [p for k, p in net.named_parameters() if 'norm' in k and p.requires_grad]
    others = [p for k, p in net.named_parameters() if 'norm' not in k and p.requires_grad]
    optimizer = torch.optim.SGD([dict(params=norm_biases, lr=lr_biases, weight_decay=wd / lr_biases),
                                 dict(params=others, lr=lr, weight_decay=wd / lr)], momentum=momentum, nesterov=True)

    def schedule(step):
        warmup = int(total_steps * 0.23)
        if step < warmup:
            return 0.2 + 0.8 * step / warmup
        return 1.0 - 0.93 * (step - warmup) / (total_steps - warmup)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    alpha = 0.95 ** 5 * (torch.arange(total_steps + 1) / total_steps) ** 3
    lookahead = Lookahead(net)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=HYP['label_smoothing'], reduction='none')

    train_start = time.time()
    # airbench takes the first 5,000 of its (unordered) training set; these rows are grouped by class, so sample them.
    init_whitening(net[0], train_x[torch.randperm(len(train_x), generator=generator)[:5000]])
    flipped = torch.where(torch.rand(len(train_x), generator=generator).view(-1, 1, 1, 1) < 0.5, train_x.flip(-1), train_x)
    padded = F.pad(flipped, (HYP['translate'],) * 4, 'reflect')
    step = 0
    for epoch in range(math.ceil(args.epochs)):
        epoch_start = time.time()
        net[0].bias.requires_grad = epoch < HYP['whiten_bias_epochs']
        net.train()
        epoch_images = batch_crop(padded, 32, generator)
        if epoch % 2 == 1:
            epoch_images = epoch_images.flip(-1)
        order = torch.randperm(len(train_x), generator=generator)
        correct = seen = 0
        for i in range(steps_per_epoch):
            rows = order[i * batch:(i + 1) * batch]
            outputs = net(epoch_images[rows])
            loss = loss_fn(outputs, train_y[rows]).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            correct += (outputs.argmax(1) == train_y[rows]).sum().item()
            seen += len(rows)
            step += 1
            if step % 5 == 0:
                lookahead.update(net, decay=alpha[step].item())
            if step >= total_steps:
                lookahead.update(net, decay=1.0)
                break
        seconds = time.time() - epoch_start
        accuracy = (infer(net, test_x, tta=0).argmax(1) == test_y).float().mean().item()
        print(f'epoch {epoch + 1}: train accuracy {correct / seen:.4f}, held-out accuracy {accuracy:.4f}, '
              f'{seconds:.0f} s ({seen / seconds:.0f} images/s)', flush=True)
    train_seconds = time.time() - train_start
    for tta in (0, 2):
        accuracy = (infer(net, test_x, tta=tta).argmax(1) == test_y).float().mean().item()
        print(f'held-out accuracy, tta level {tta}: {accuracy:.4f}')
    print(f'training took {train_seconds:.0f} s (per-epoch evaluations included)')


if __name__ == '__main__':
    main()
