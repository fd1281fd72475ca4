"""Plain PyTorch inference: the reference for bench/eval_bench.ts.

The same networks as lade's native ones (bench/nets.py) in eval mode under
torch.inference_mode(), large batches of random images prepared before
timing, logits of each batch computed in full. `--format channels_last` (the
default, PyTorch's best eager configuration on the CPU) puts the model and
the batches in NHWC; `--format nchw` is plain PyTorch. `--mode frozen` is PyTorch's own
inference path: the model traced, frozen (`torch.jit.freeze`: batch norms
folded into the convolutions) and optimized for inference
(`torch.jit.optimize_for_inference`: oneDNN's blocked layout, prepacked
weights). Prints one JSON object: images per second of each repeat.

usage: eval_bench.py --model cnn28|resnet32|resnet32-proj --threads N [--format channels_last|nchw]
                     [--mode eager|frozen] [--batch B] [--steps S] [--warmup W] [--repeats R]
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from nets import FORMATS, build  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["cnn28", "resnet32", "resnet32-proj"], required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--format", choices=list(FORMATS), default="channels_last")
    p.add_argument("--mode", choices=["eager", "frozen"], default="eager")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    fmt = FORMATS[a.format]
    model, shape = build(a.model, 10, fmt)
    # A few training steps' worth of batch-norm statistics, so eval is not the identity.
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(64, *shape).to(memory_format=fmt))
    model.eval()
    batches = [torch.randn(a.batch, *shape).to(memory_format=fmt) for _ in range(2)]
    if a.mode == "frozen":
        with torch.no_grad():
            model = torch.jit.optimize_for_inference(
                torch.jit.freeze(torch.jit.trace(model, batches[0])))

    def step(i):
        with torch.inference_mode():
            return model(batches[i % len(batches)])

    for i in range(a.warmup):
        step(i)
    rates = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        for i in range(a.steps):
            step(i)
        rates.append(a.steps * a.batch / (time.perf_counter() - t))
    print(json.dumps({"torch": torch.__version__, "format": a.format, "mode": a.mode, "rates": rates}))


if __name__ == "__main__":
    main()
