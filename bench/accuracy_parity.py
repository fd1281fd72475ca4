"""A plain PyTorch loop for the default recipe, to set lade's accuracy beside.

Fashion-MNIST-LT (R = 100, exp: 6000 ... 60 images, 14,886 in all), the same
5-layer CNN as lade's cnn28 (bench/train_bench.py), 12 epochs, batch 128,
SGD lr 0.05 (momentum 0.9, weight decay 5e-4), one epoch of linear warm-up
from lr/3 then cosine (per epoch), random 2-pixel pad-crop and horizontal
flip, normalised with mean 0.2860, std 0.3530. Trains softmax and LADE
(alpha 0.1, lambda 0.1; design.md's formulas) and prints JSON with top-1 (%)
on the uniform test set: softmax, PC softmax (uniform target: f - log p_s),
and LADE (argmax f).

usage: /usr/bin/python3 bench/accuracy_parity.py [--epochs 12] [--threads 2] [--seed 0]
"""
import argparse
import gzip
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from train_bench import Cnn28  # noqa: E402

ROOT = "/usr/share/datasets/fashion-mnist"


def read_idx(name):
    with gzip.open(os.path.join(ROOT, name)) as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def long_tail(labels, classes, ratio, rng):
    n_max = len(labels) // classes
    counts = [math.floor(n_max * (1 / ratio) ** (c / (classes - 1))) for c in range(classes)]
    keep = []
    for c in range(classes):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        keep.append(idx[: counts[c]])
    return np.concatenate(keep), counts


def lade_loss(logits, labels, log_prior, prior, alpha, lam):
    n, classes = logits.shape
    prior_ce = F.cross_entropy(logits + log_prior, labels)
    member = F.one_hot(labels, classes).to(logits.dtype)
    t1 = (logits * member).sum(0) / (member.sum(0) + 1e-8)
    t2 = torch.logsumexp(logits - torch.log(prior + 1e-9) + math.log(1 / classes), 0) - math.log(n)
    lader = -((t1 - t2 - lam * t2 ** 2) * prior).sum()
    return prior_ce + alpha * lader


def train(method, x_train, y_train, counts, x_test, y_test, args):
    torch.manual_seed(args.seed)
    model = Cnn28(1, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    prior = torch.tensor(counts, dtype=torch.float32) / sum(counts)
    log_prior = prior.log()
    n = len(y_train)
    for epoch in range(args.epochs):
        lr = 0.05 * (1 / 3) if epoch == 0 else 0.05 * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / (args.epochs - 1)))
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        order = torch.randperm(n)
        for b in range(n // 128):
            idx = order[b * 128: (b + 1) * 128]
            padded = F.pad(x_train[idx], (2, 2, 2, 2))
            offsets = np.random.randint(0, 5, size=(len(idx), 2))
            x = torch.stack([padded[k, :, a: a + 28, b: b + 28] for k, (a, b) in enumerate(offsets)])
            flip = torch.rand(len(idx)) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            logits = model(x)
            y = y_train[idx]
            loss = F.cross_entropy(logits, y) if method == "softmax" else lade_loss(logits, y, log_prior, prior, 0.1, 0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x_test[i: i + 1000]) for i in range(0, len(y_test), 1000)])
    top1 = lambda z: float((z.argmax(1) == y_test).float().mean() * 100)
    if method == "softmax":
        return {"softmax": top1(logits), "pc_softmax": top1(logits - log_prior)}
    return {"lade": top1(logits)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    np.random.seed(args.seed)
    images = read_idx("train-images-idx3-ubyte.gz")
    labels = read_idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    keep, counts = long_tail(labels, 10, 100, np.random.default_rng(args.seed))
    norm = lambda a: (torch.from_numpy(a.astype(np.float32) / 255)[:, None] - 0.2860) / 0.3530
    x_train, y_train = norm(images[keep]), torch.from_numpy(labels[keep])
    x_test = norm(read_idx("t10k-images-idx3-ubyte.gz"))
    y_test = torch.from_numpy(read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    result = {"train_images": int(len(keep)), "epochs": args.epochs}
    result.update(train("softmax", x_train, y_train, counts, x_test, y_test, args))
    result.update(train("lade", x_train, y_train, counts, x_test, y_test, args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
