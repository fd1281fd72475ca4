"""lade's networks in plain PyTorch: the references of the benchmarks.

Each mirrors its native definition op for op, so that a benchmark compares
the same arithmetic: native/src/model_cnn.cpp (cnn28) and
native/src/model_resnet_cifar.cpp (resnet32: the official option-A
shortcuts, stride-2 subsampling and zero-padded channels, where the shape
changes; resnet32-proj: a 1x1 convolution and batch norm there; in-place
ReLUs and sum),
each followed by a linear head as native/src/model_api.cpp's Classifier.
Keep them in sync when the native ones change.

`build(name, classes, memory_format)` returns (model, input shape), with the
model's 4-D parameters in `memory_format` (torch.channels_last is the best
eager configuration on the CPU: oneDNN's NHWC convolutions).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Cnn28(nn.Module):
    """native/src/model_cnn.cpp: 3 x (conv 3x3 no bias, BN, maxpool 2, ReLU), fc 256, ReLU."""

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
            # As the native one: pool first, then ReLU in place (the same values).
            x = F.max_pool2d(bn(conv(x)), 2).relu_()
        return self.head(self.fc(x.flatten(1)).relu_())


class BasicBlock(nn.Module):
    """native/src/model_resnet_cifar.cpp's BasicBlock (where the shape changes: option A, or a projection)."""

    def __init__(self, cin, cout, stride, projection):
        super().__init__()
        self.pad = 0
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down_conv = None
        if stride != 1 or cin != cout:
            if projection:
                self.down_conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
                self.down_bn = nn.BatchNorm2d(cout)
            else:
                self.pad = cout // 4

    def shortcut(self, x):
        if self.down_conv is not None:
            return self.down_bn(self.down_conv(x))
        if self.pad:
            # Option A, as the official LADE code: x[:, :, ::2, ::2], out/4 zero channels each side.
            return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return x

    def forward(self, x):
        out = self.bn1(self.conv1(x)).relu_()
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return out.relu_()


class ResNet32(nn.Module):
    """native/src/model_resnet_cifar.cpp's ResNet32 (one branch), with a linear head."""

    def __init__(self, in_channels, classes, projection=False):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers = []
        c = 16
        for s, w in enumerate([16, 32, 64]):
            for b in range(5):
                layers.append(BasicBlock(c, w, 2 if (b == 0 and s > 0) else 1, projection))
                c = w
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.layers(self.bn1(self.conv1(x)).relu_())
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


FORMATS = {"channels_last": torch.channels_last, "nchw": torch.contiguous_format}


def build(name, classes, memory_format):
    """(model, input shape [C, S, S]) with 4-D parameters in `memory_format`."""
    if name == "cnn28":
        model, shape = Cnn28(1, classes), (1, 28, 28)
    elif name == "resnet32":
        model, shape = ResNet32(3, classes), (3, 32, 32)
    elif name == "resnet32-proj":
        model, shape = ResNet32(3, classes, projection=True), (3, 32, 32)
    else:
        raise ValueError(f"unknown model {name}")
    return model.to(memory_format=memory_format), shape
