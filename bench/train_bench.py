"""Plain PyTorch training loop: the reference for bench/train_bench.ts.

The same networks as lade's native/src/model_cnn.cpp and
model_resnet_cifar.cpp, the same SGD (momentum 0.9, weight decay 5e-4),
softmax cross-entropy, random batches prepared before timing. Prints one JSON
object: images per second of each repeat.

usage: python3 train_bench.py --model cnn28|resnet32 --threads N --batch B --steps S --repeats R
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Cnn28(nn.Module):
    def __init__(self, in_channels, classes):
        super().__init__()
        widths = [32, 64, 128]
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        c = in_channels
        for w in widths:
            self.convs.append(nn.Conv2d(c, w, 3, padding=1, bias=False))
            self.bns.append(nn.BatchNorm2d(w))
            c = w
        self.fc = nn.Linear(128 * 3 * 3, 256)
        self.head = nn.Linear(256, classes)

    def forward(self, x):
        for conv, bn in zip(self.convs, self.bns):
            x = F.max_pool2d(F.relu(bn(conv(x))), 2)
        return self.head(F.relu(self.fc(x.flatten(1))))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.down(x) if self.down is not None else x))


class ResNet32(nn.Module):
    def __init__(self, in_channels, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers = []
        c = 16
        for s, w in enumerate([16, 32, 64]):
            for b in range(5):
                layers.append(BasicBlock(c, w, 2 if (b == 0 and s > 0) else 1))
                c = w
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(64, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["cnn28", "resnet32"], required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.model == "cnn28":
        model, shape, classes = Cnn28(1, 10), (1, 28, 28), 10
    else:
        model, shape, classes = ResNet32(3, 10), (3, 32, 32), 10
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    batches = [(torch.randn(a.batch, *shape), torch.randint(0, classes, (a.batch,))) for _ in range(4)]

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
    print(json.dumps({"torch": torch.__version__, "rates": rates}))


if __name__ == "__main__":
    main()
