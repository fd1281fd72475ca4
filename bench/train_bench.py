"""Plain PyTorch training loop: the reference for bench/train_bench.ts.

The same networks as lade's native ones (bench/nets.py), the same SGD
(momentum 0.9, weight decay 5e-4), softmax cross-entropy, random batches
prepared before timing. `--format channels_last` (the default, PyTorch's best
eager configuration on the CPU and the layout lade uses) puts the model and
the batches in NHWC; `--format nchw` is plain PyTorch. Prints one JSON object:
images per second of each repeat.

usage: train_bench.py --model cnn28|resnet32|resnet32-proj --threads N [--format channels_last|nchw]
                      [--batch B] [--steps S] [--warmup W] [--repeats R]
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from nets import FORMATS, Cnn28, ResNet32, build  # noqa: E402,F401  (Cnn28: accuracy_parity.py)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["cnn28", "resnet32", "resnet32-proj"], required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--format", choices=list(FORMATS), default="channels_last")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    fmt = FORMATS[a.format]
    model, shape = build(a.model, 10, fmt)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    batches = [
        (torch.randn(a.batch, *shape).to(memory_format=fmt), torch.randint(0, 10, (a.batch,)))
        for _ in range(4)
    ]

    def step(i):
        x, y = batches[i % len(batches)]
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(a.warmup):
        step(i)
    rates = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        for i in range(a.steps):
            step(i)
        rates.append(a.steps * a.batch / (time.perf_counter() - t))
    print(json.dumps({"torch": torch.__version__, "format": a.format, "rates": rates}))


if __name__ == "__main__":
    main()
