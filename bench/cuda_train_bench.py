"""PyTorch's best on a GPU: the reference for bench/cuda_train_bench.ts.

One training step of the CIFAR-100-LT recipe at batch 128, as fast as
PyTorch runs it: the uint8 images live on the GPU (10,847 long-tailed
3x32x32 images, 100 classes), the batch is gathered, pad-cropped, flipped and
normalised there as tensor ops (the per-sample crop offsets and flips come
from the host, as in lade), the network runs in channels-last under bf16
autocast with cudnn.benchmark, the loss is LADE (prior CE + alpha * LADER,
design.md's formulas, in fp32), and SGD (momentum 0.9, weight decay 5e-4)
uses its fastest implementation available (fused, else foreach).

Two ways of running the same step are timed:
  eager   the step as a plain Python loop;
  graphs  the whole step (augmentation, forward, loss, backward, optimiser)
          captured once with torch.cuda.graph and replayed (the best-known
          reference; the inputs of a step are the host-made indices and crop
          parameters copied into static buffers before each replay).

Prints one JSON object: images per second of each repeat, per mode.

usage: python3 cuda_train_bench.py [--arch resnet32|resnet32-2branch|cnn28]
         [--shortcut A|B] [--batch 128] [--steps 50] [--repeats 5]
         [--modes eager,graphs] [--precision bf16|fp32]
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    """A CIFAR basic block; shortcut A (subsample + zero channels) or B (1x1 projection)."""

    def __init__(self, cin, cout, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = 0
        self.down = None
        if stride != 1 or cin != cout:
            if shortcut == "A":
                self.pad = (cout - cin) // 2
            else:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.stride = stride

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.down is not None:
            identity = self.down(x)
        elif self.pad or self.stride != 1:
            identity = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.pad, self.pad))
        else:
            identity = x
        return F.relu(out + identity)


class ResNet32(nn.Module):
    """ResNet-32 for 32-pixel images; `two_branch`: BBN/LADE's last stage (128 features)."""

    def __init__(self, classes, shortcut="A", two_branch=False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, c = [], 16
        for s, w in enumerate([16, 32, 64]):
            for b in range(4 if (two_branch and s == 2) else 5):
                layers.append(BasicBlock(c, w, 2 if (b == 0 and s > 0) else 1, shortcut))
                c = w
        self.layers = nn.Sequential(*layers)
        self.two_branch = two_branch
        if two_branch:
            self.cb = BasicBlock(64, 64, 1, shortcut)
            self.rb = BasicBlock(64, 64, 1, shortcut)
        self.head = nn.Linear(128 if two_branch else 64, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        if self.two_branch:
            x = torch.cat([self.cb(x), self.rb(x)], 1)
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


class Cnn28(nn.Module):
    """lade's default 28-pixel CNN (native/src/model_cnn.cpp)."""

    def __init__(self, in_channels, classes):
        super().__init__()
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        c = in_channels
        for w in [32, 64, 128]:
            self.convs.append(nn.Conv2d(c, w, 3, padding=1, bias=False))
            self.bns.append(nn.BatchNorm2d(w))
            c = w
        self.fc = nn.Linear(128 * 3 * 3, 256)
        self.head = nn.Linear(256, classes)

    def forward(self, x):
        for conv, bn in zip(self.convs, self.bns):
            x = F.relu(F.max_pool2d(bn(conv(x)), 2))
        return self.head(F.relu(self.fc(x.flatten(1))))


def lade_loss(logits, labels, prior, log_prior, alpha, lam):
    """design.md: prior CE + alpha * LADER, in fp32."""
    logits = logits.float()
    n, c = logits.shape
    ce = F.cross_entropy(logits + log_prior, labels)
    member = F.one_hot(labels, c).to(logits.dtype)
    t1 = (logits * member).sum(0) / (member.sum(0) + 1e-8)
    t2 = (logits - torch.log(prior + 1e-9) + math.log(1.0 / c)).logsumexp(0) - math.log(n)
    bound = t1 - t2 - lam * t2 * t2
    return ce + alpha * (-(bound * prior).sum())


def long_tail_counts(n_max, classes, ratio):
    return [int(math.floor(n_max * (1.0 / ratio) ** (c / (classes - 1)))) for c in range(classes)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet32", choices=["resnet32", "resnet32-2branch", "cnn28"])
    p.add_argument("--shortcut", default="A", choices=["A", "B"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--modes", default="eager,graphs")
    p.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    p.add_argument("--alpha", type=float, default=0.1)
    p.add_argument("--lam", type=float, default=0.01)
    p.add_argument("--device", default="cuda", help="cpu only to check the script itself")
    a = p.parse_args()

    dev = torch.device(a.device)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    if a.arch == "cnn28":
        classes, channels, size, pad = 10, 1, 28, 2
        counts = long_tail_counts(6000, classes, 100)
        model = Cnn28(1, classes)
        mean, std = [0.2860], [0.3530]
    else:
        classes, channels, size, pad = 100, 3, 32, 4
        counts = long_tail_counts(500, classes, 100)
        model = ResNet32(classes, a.shortcut, a.arch == "resnet32-2branch")
        mean, std = [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]
    n = sum(counts)
    model = model.to(dev).to(memory_format=torch.channels_last).train()
    labels_all = torch.cat([torch.full((k,), c, dtype=torch.long) for c, k in enumerate(counts)]).to(dev)
    images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8)
    # Padded once, channels last, so a crop is one gather.
    padded = F.pad(images, (pad, pad, pad, pad)).permute(0, 2, 3, 1).contiguous().to(dev)
    hp = size + 2 * pad
    prior = torch.tensor([k / n for k in counts], device=dev)
    log_prior = prior.log()
    scale = torch.tensor([1 / (255 * s) for s in std], device=dev)
    shift = torch.tensor([m / s for m, s in zip(mean, std)], device=dev)
    ar = torch.arange(size, device=dev)
    ch = torch.arange(channels, device=dev)

    def augment(params):
        # params: int64 [B, 4] = (index, dx, dy, mirror)
        idx, dx, dy, mirror = params.unbind(1)
        rows = dy[:, None] + ar[None, :]  # [B, S]
        cols = torch.where(mirror[:, None] == 1, size - 1 - ar[None, :], ar[None, :]) + dx[:, None]
        lin = (((idx[:, None, None] * hp + rows[:, :, None]) * hp + cols[:, None, :]) * channels)
        lin = lin[..., None] + ch  # [B, S, S, C]
        x = padded.view(-1).take(lin).float() * scale - shift
        return x.permute(0, 3, 1, 2), labels_all.index_select(0, idx)  # channels-last NCHW view

    try:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, fused=True)
        sgd = "fused"
    except (TypeError, RuntimeError):
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, foreach=True)
        sgd = "foreach"
    use_bf16 = a.precision == "bf16"
    gen = torch.Generator().manual_seed(0)

    def host_params():
        idx = torch.randint(0, n, (a.batch,), generator=gen)
        off = torch.randint(0, 2 * pad + 1, (a.batch, 2), generator=gen)
        mir = torch.randint(0, 2, (a.batch, 1), generator=gen)
        return torch.cat([idx[:, None], off, mir], 1)

    loss_sum = torch.zeros((), device=dev)
    correct = torch.zeros((), dtype=torch.long, device=dev)

    def step(params):
        x, y = augment(params)
        opt.zero_grad(set_to_none=False)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(x)
        loss = lade_loss(logits, y, prior, log_prior, a.alpha, a.lam)
        loss.backward()
        opt.step()
        # Running sums stay on the device, as in lade: no host sync per step.
        loss_sum.add_(loss.detach())
        correct.add_((logits.argmax(1) == y).sum())

    pool = [host_params() for _ in range(16)]
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
    results = {"torch": torch.__version__, "device": name, "sgd": sgd,
               "arch": a.arch, "shortcut": a.shortcut, "batch": a.batch, "precision": a.precision}
    modes = a.modes.split(",")
    if "eager" in modes:
        for i in range(a.warmup):
            step(pool[i % 16].to(dev, non_blocking=True))
        sync()
        rates = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            for i in range(a.steps):
                step(pool[i % 16].to(dev, non_blocking=True))
            sync()
            rates.append(a.steps * a.batch / (time.perf_counter() - t))
        results["eager"] = rates
    if "graphs" in modes and dev.type == "cuda":
        static = pool[0].to(dev)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for i in range(a.warmup):
                static.copy_(pool[i % 16], non_blocking=True)
                step(static)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step(static)
        sync()
        rates = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            for i in range(a.steps):
                static.copy_(pool[i % 16], non_blocking=True)
                graph.replay()
            sync()
            rates.append(a.steps * a.batch / (time.perf_counter() - t))
        results["graphs"] = rates
    results["finite"] = bool(torch.isfinite(loss_sum).item())
    print(json.dumps(results))


if __name__ == "__main__":
    main()
