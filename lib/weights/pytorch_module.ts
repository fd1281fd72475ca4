/**
 * The PyTorch module file `weights export --format pytorch` writes beside the
 * state dict: lade's networks in plain PyTorch (it imports `torch` and
 * nothing else), with the module names lade's state dict uses, so that
 * `load()` is `torch.load(..., weights_only=True)` and
 * `load_state_dict(strict=True)` and the module's logits are lade's.
 *
 * Every architecture lade builds is here, written from native/src/model_*.cpp:
 * cnn28 (and its SADE variant), the CIFAR ResNet-32s (option-A shortcuts:
 * subsample and zero-pad channels; the projection and two-branch variants;
 * SADE's narrowed experts), the ImageNet ResNets with torchvision's names
 * (`downsample.0/1`, `fc`) and their SADE variants with lade's (`down_conv`,
 * `down_bn`, `head`); a linear or cosine head, one per expert.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { usesTorchvisionNames } from "./names.ts";

/** What the module file needs to know of the network and its data. */
export interface ModuleFileSpec {
  arch: string;
  classes: number;
  inChannels: number;
  head: "linear" | "cosine";
  /** The cosine head's scale. */
  scale: number;
  /** The state dict file's name, beside the module file. */
  weightsFile: string;
  /** The module file's own name without `.py` (how it is imported). */
  moduleName: string;
  classNames?: string[];
  trainCounts?: number[];
  method?: string;
  imageSize?: number;
  mean?: number[];
  std?: number[];
}

/** The network code, the same for every export (the constants at the top choose the network). */
const NETWORKS = String.raw`
import os

import torch
import torch.nn.functional as F
from torch import nn


class CosineHead(nn.Module):
    """scale * <x / |x|, w_c / |w_c|> (lade's cosine classifier)."""

    def __init__(self, features, classes, scale):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(classes, features))
        self.scale = scale

    def forward(self, x):
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).t() * self.scale


def make_head(features, classes):
    return CosineHead(features, classes, SCALE) if HEAD == "cosine" else nn.Linear(features, classes)


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


# ---- cnn28: three conv-BN-ReLU-maxpool stages (32, 64, 128), a hidden layer of 256


class Cnn28(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, 32), nn.BatchNorm2d(32)
        self.conv2, self.bn2 = conv3x3(32, 64), nn.BatchNorm2d(64)
        self.conv3, self.bn3 = conv3x3(64, 128), nn.BatchNorm2d(128)
        self.fc = nn.Linear(128 * 3 * 3, 256)

    def forward(self, x):
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3)):
            x = F.relu(F.max_pool2d(bn(conv(x)), 2))
        return [F.relu(self.fc(x.flatten(1)))]


class Cnn28Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv3, self.bn3 = conv3x3(64, 96), nn.BatchNorm2d(96)
        self.fc = nn.Linear(96 * 3 * 3, 192)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.bn3(self.conv3(x)), 2))
        return F.relu(self.fc(x.flatten(1)))


class Cnn28Experts(nn.Module):
    def __init__(self, cin, experts=3):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, 32), nn.BatchNorm2d(32)
        self.conv2, self.bn2 = conv3x3(32, 64), nn.BatchNorm2d(64)
        self.experts = nn.ModuleList(Cnn28Expert() for _ in range(experts))

    def forward(self, x):
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2)):
            x = F.relu(F.max_pool2d(bn(conv(x)), 2))
        return [e(x) for e in self.experts]


# ---- CIFAR ResNet-32: 16/32/64 channels, 5 basic blocks a stage


class CifarBlock(nn.Module):
    def __init__(self, cin, cout, stride, projection):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv3x3(cout, cout), nn.BatchNorm2d(cout)
        self.projection = projection and (stride != 1 or cin != cout)
        self.option_a = not projection and (stride != 1 or cin != cout)
        self.pad = (cout - cin) // 2
        if self.projection:
            self.down_conv = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
            self.down_bn = nn.BatchNorm2d(cout)

    def shortcut(self, x):
        if self.projection:
            return self.down_bn(self.down_conv(x))
        if self.option_a:
            # Option A: every second pixel, zero channels on each side.
            return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return x

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def cifar_stage(cin, cout, stride, blocks, projection=False):
    return nn.Sequential(*(
        CifarBlock(cin if b == 0 else cout, cout, stride if b == 0 else 1, projection)
        for b in range(blocks)
    ))


class ResNet32(nn.Module):
    def __init__(self, cin, two_branch, projection):
        super().__init__()
        self.two_branch = two_branch
        self.conv1, self.bn1 = conv3x3(cin, 16), nn.BatchNorm2d(16)
        self.layer1 = cifar_stage(16, 16, 1, 5, projection)
        self.layer2 = cifar_stage(16, 32, 2, 5, projection)
        self.layer3 = cifar_stage(32, 64, 2, 4 if two_branch else 5, projection)
        if two_branch:
            self.cb_block = CifarBlock(64, 64, 1, projection)
            self.rb_block = CifarBlock(64, 64, 1, projection)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(F.relu(self.bn1(self.conv1(x))))))
        if not self.two_branch:
            return [F.adaptive_avg_pool2d(x, 1).flatten(1)]
        a = F.adaptive_avg_pool2d(self.cb_block(x), 1).flatten(1)
        b = F.adaptive_avg_pool2d(self.rb_block(x), 1).flatten(1)
        return [torch.cat([a, b], 1)]


class CifarExpert(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer2 = cifar_stage(16, 24, 2, 5)
        self.layer3 = cifar_stage(24, 48, 2, 5)

    def forward(self, x):
        return F.adaptive_avg_pool2d(self.layer3(self.layer2(x)), 1).flatten(1)


class ResNet32Experts(nn.Module):
    def __init__(self, cin, experts=3):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, 16), nn.BatchNorm2d(16)
        self.layer1 = cifar_stage(16, 16, 1, 5)
        self.experts = nn.ModuleList(CifarExpert() for _ in range(experts))

    def forward(self, x):
        x = self.layer1(F.relu(self.bn1(self.conv1(x))))
        return [e(x) for e in self.experts]


# ---- ImageNet ResNets (torchvision's layout), and SADE's variants with experts


class Block(nn.Module):
    def __init__(self, bottleneck, cin, planes, stride, groups, base_width, torchvision_names):
        super().__init__()
        self.bottleneck = bottleneck
        cout = planes * (4 if bottleneck else 1)
        if bottleneck:
            width = planes * base_width // 64 * groups
            self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        else:
            self.conv1, self.bn1 = conv3x3(cin, planes, stride), nn.BatchNorm2d(planes)
            self.conv2, self.bn2 = conv3x3(planes, planes), nn.BatchNorm2d(planes)
        self.projected = stride != 1 or cin != cout
        self.torchvision_names = torchvision_names
        if self.projected:
            conv, bn = nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            if torchvision_names:
                self.downsample = nn.Sequential(conv, bn)
            else:
                self.down_conv, self.down_bn = conv, bn

    def shortcut(self, x):
        if not self.projected:
            return x
        if self.torchvision_names:
            return self.downsample(x)
        return self.down_bn(self.down_conv(x))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.bottleneck:
            out = self.bn3(self.conv3(F.relu(out)))
        return F.relu(out + self.shortcut(x))


def imagenet_stage(bottleneck, cin, planes, blocks, stride, groups, base_width, tv):
    layers = []
    for b in range(blocks):
        layers.append(Block(bottleneck, cin, planes, stride if b == 0 else 1, groups, base_width, tv))
        cin = planes * (4 if bottleneck else 1)
    return nn.Sequential(*layers), cin


IMAGENET = {
    # name: (bottleneck, blocks per stage, groups, base width)
    "resnet10": (False, [1, 1, 1, 1], 1, 64),
    "resnet18": (False, [2, 2, 2, 2], 1, 64),
    "resnet34": (False, [3, 4, 6, 3], 1, 64),
    "resnet50": (True, [3, 4, 6, 3], 1, 64),
    "resnet101": (True, [3, 4, 23, 3], 1, 64),
    "resnet152": (True, [3, 8, 36, 3], 1, 64),
    "resnext50": (True, [3, 4, 6, 3], 32, 4),
}


class ResNet(nn.Module):
    """torchvision's ResNet, with its state-dict names (conv1, layer1..4, fc)."""

    def __init__(self, name, cin, classes):
        super().__init__()
        bottleneck, layers, groups, width = IMAGENET[name]
        self.conv1 = nn.Conv2d(cin, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        c = 64
        for s in range(4):
            stage, c = imagenet_stage(bottleneck, c, 64 << s, layers[s], 1 if s == 0 else 2,
                                      groups, width, True)
            setattr(self, "layer%d" % (s + 1), stage)
        self.fc = make_head(c, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class ImagenetExpert(nn.Module):
    def __init__(self, bottleneck, cin, layers, groups, width):
        super().__init__()
        self.layer3, cin = imagenet_stage(bottleneck, cin, 192, layers[2], 2, groups, width, False)
        self.layer4, _ = imagenet_stage(bottleneck, cin, 384, layers[3], 2, groups, width, False)

    def forward(self, x):
        return F.adaptive_avg_pool2d(self.layer4(self.layer3(x)), 1).flatten(1)


class ImagenetExperts(nn.Module):
    def __init__(self, name, cin, experts=3):
        super().__init__()
        bottleneck, layers, groups, width = IMAGENET[name]
        self.conv1 = nn.Conv2d(cin, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1, c = imagenet_stage(bottleneck, 64, 64, layers[0], 1, groups, width, False)
        self.layer2, c = imagenet_stage(bottleneck, c, 128, layers[1], 2, groups, width, False)
        self.experts = nn.ModuleList(
            ImagenetExpert(bottleneck, c, layers, groups, width) for _ in range(experts))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer2(self.layer1(x))
        return [e(x) for e in self.experts]


# ---- the classifier: a backbone and a head per expert, logits side by side


class LadeNet(nn.Module):
    """lade's classifier: logits [N, classes], or [N, experts * classes] for SADE's experts."""

    def __init__(self, backbone, features, classes, experts):
        super().__init__()
        self.backbone = backbone
        if experts == 1:
            self.head = make_head(features, classes)
        else:
            self.head = nn.ModuleList(make_head(features, classes) for _ in range(experts))

    def forward(self, x):
        parts = self.backbone(x)
        if isinstance(self.head, nn.ModuleList):
            return torch.cat([h(f) for h, f in zip(self.head, parts)], 1)
        return self.head(parts[0])


def build():
    """The network with this export's shape, freshly initialised (load() fills it)."""
    arch, c, k = ARCH, IN_CHANNELS, CLASSES
    if arch in IMAGENET:
        return ResNet(arch, c, k)
    if arch == "cnn28":
        return LadeNet(Cnn28(c), 256, k, 1)
    if arch == "cnn28-sade":
        return LadeNet(Cnn28Experts(c), 192, k, 3)
    if arch.startswith("resnet32-sade"):
        return LadeNet(ResNet32Experts(c), 48, k, 3)
    if arch.startswith("resnet32"):
        two = "2branch" in arch
        return LadeNet(ResNet32(c, two, arch.endswith("-proj")), 128 if two else 64, k, 1)
    if arch.endswith("-sade") and arch[:-5] in IMAGENET:
        bottleneck = IMAGENET[arch[:-5]][0]
        return LadeNet(ImagenetExperts(arch[:-5], c), 384 * (4 if bottleneck else 1), k, 3)
    raise ValueError("unknown architecture %r" % arch)


def load(path=None, map_location="cpu"):
    """The network with the exported weights (strict), in eval mode."""
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), WEIGHTS_FILE)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except TypeError:  # PyTorch before 1.13 has no weights_only
        state = torch.load(path, map_location=map_location)
    net = build()
    net.load_state_dict(state, strict=True)
    return net.eval()


def expert_mean(logits):
    """A multi-expert (SADE) network's plain average of its experts' logits [N, classes]."""
    return logits.view(logits.shape[0], -1, CLASSES).mean(1)
`;

/** A value as a Python literal (numbers, strings and lists of them: JSON's form is Python's). */
function py(value: unknown): string {
  if (value === undefined || value === null) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (Array.isArray(value)) return `[${value.map(py).join(", ")}]`;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new InputError(`not a finite number: ${value}`);
    return JSON.stringify(value);
  }
  // JSON's string escapes (\", \\, \n, \uXXXX) mean the same in Python.
  return JSON.stringify(String(value));
}

/** The Python source of the module file for `spec`. */
export function pytorchModuleSource(spec: ModuleFileSpec): string {
  const tv = usesTorchvisionNames(spec.arch);
  const header = [
    `"""lade's ${spec.arch} network in plain PyTorch, with its exported weights.`,
    "",
    "Written by `lade weights export --format pytorch`; needs only torch.",
    "",
    `    import ${spec.moduleName} as m`,
    "    net = m.load()                # torch.load(weights_only=True) + load_state_dict(strict)",
    "    logits = net(x)               # x: float32 [N, C, H, W], normalised with MEAN and STD",
    "",
    tv
      ? `The state dict carries torchvision's names: torchvision.models.${
        spec.arch === "resnext50" ? "resnext50_32x4d" : spec.arch
      }(num_classes=${spec.classes}) loads it too${
        spec.head === "cosine" ? " (with its fc replaced by this file's CosineHead)" : ""
      }.`
      : "The state dict carries lade's names (backbone.*, head.*).",
    spec.arch.endsWith("-sade")
      ? `A multi-expert network: logits are [N, 3 * ${spec.classes}], the experts side by side; ` +
        "expert_mean(logits) averages them."
      : "",
    `"""`,
  ].filter((line, i, all) => !(line === "" && all[i - 1] === "")).join("\n");
  const constants = [
    `ARCH = ${py(spec.arch)}`,
    `CLASSES = ${spec.classes}`,
    `IN_CHANNELS = ${spec.inChannels}`,
    `HEAD = ${py(spec.head)}`,
    `SCALE = ${py(spec.scale)}`,
    `WEIGHTS_FILE = ${py(spec.weightsFile)}`,
    `IMAGE_SIZE = ${py(spec.imageSize)}`,
    `MEAN = ${py(spec.mean)}`,
    `STD = ${py(spec.std)}`,
    `CLASS_NAMES = ${py(spec.classNames)}`,
    `TRAIN_COUNTS = ${py(spec.trainCounts)}`,
    `METHOD = ${py(spec.method)}`,
  ].join("\n");
  return `${header}\n${NETWORKS.trimEnd()}\n\n\n` +
    `# ---- this export\n\n${constants}\n`;
}
