#!/usr/bin/env python3
"""`lade predict` on image files against torchvision's preprocessing.

A PyTorch user classifies a photo with

    T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(mean, std)])

on `Image.open(path).convert("RGB")` (PIL: antialiased bilinear resizing in
8-bit fixed point, horizontal pass then vertical). This script makes a few
JPEG and PNG images of different sizes and aspect ratios (smooth colour fields
with sharp shapes and noise, so that resampling matters), preprocesses them
that way, and runs a ResNet-50 with random weights (batch-norm statistics
randomised) in torchvision. Then lade, from the same .pth:

  images: `lade predict --weights w.pth --arch resnet50 IMAGES --save-logits`
  npy:    the same on torchvision's normalised batch (`--npy x.npy`): the
          network alone, the floor any preprocessing gap sits on
  pixels: lade's decoded, resized and cropped uint8 images (lib/data's
          prepareImage) against PIL's, pixel by pixel

Figures: max|lade - torchvision| / max|torchvision| over all logits, and the
pixels that differ with the largest difference.

    /usr/bin/python3 bench/predict_parity.py [--classes 100] [--keep DIR]

Needs the native library built and Deno on the PATH (or DENO=...); run from
the repository root. Not a test (tests/data/ checks the resampling on small
images against values computed by hand).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image, ImageDraw

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
# (width, height, format): landscape, portrait, square, odd sizes, a small one upscaled.
IMAGES = [
    (500, 375, "jpg"),
    (375, 500, "jpg"),
    (640, 427, "jpg"),
    (301, 300, "png"),
    (257, 411, "png"),
    (200, 150, "jpg"),
]


def make_image(w, h, seed):
    rng = np.random.default_rng(seed)
    field = rng.random((6, 8, 3)) * 255
    img = Image.fromarray(field.astype(np.uint8)).resize((w, h), Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(5, w // 3)), y0 + int(rng.integers(5, h // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    noisy = np.asarray(img).astype(np.int16) + rng.integers(-20, 21, (h, w, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def randomise(net, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return net.eval()


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def deno():
    return os.environ.get("DENO") or shutil.which("deno") or sys.exit("deno not found (DENO=...)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--keep", help="keep the files in this folder")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="lade-predict-parity-")
    os.makedirs(work, exist_ok=True)
    paths = []
    for i, (w, h, fmt) in enumerate(IMAGES):
        path = os.path.join(work, f"img{i}_{w}x{h}.{fmt}")
        make_image(w, h, i).save(path, quality=90) if fmt == "jpg" else make_image(w, h, i).save(path)
        paths.append(path)

    crop = T.Compose([T.Resize(256), T.CenterCrop(224)])
    crops = np.stack([np.asarray(crop(Image.open(p).convert("RGB"))).transpose(2, 0, 1)
                      for p in paths])
    norm = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
    x = torch.stack([norm(crop(Image.open(p).convert("RGB"))) for p in paths])
    np.save(os.path.join(work, "x.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(work, "crops.npy"), crops.astype(np.uint8))

    torch.manual_seed(0)
    net = randomise(torchvision.models.resnet50(num_classes=args.classes), 1)
    torch.save(net.state_dict(), os.path.join(work, "w.pth"))
    with torch.inference_mode():
        ref = net(x).numpy()

    lade = [deno(), "run", "-A", "main.ts", "predict", "--weights", os.path.join(work, "w.pth"),
            "--arch", "resnet50", "--classes", str(args.classes), "--json"]
    subprocess.run(lade + paths + ["--save-logits", os.path.join(work, "img.npy")],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(lade + ["--npy", os.path.join(work, "x.npy"),
                           "--save-logits", os.path.join(work, "npy.npy")],
                   check=True, stdout=subprocess.DEVNULL)
    # lade's own uint8 crops, as predict makes them.
    dump = (
        "import { prepareImage } from './lib/data/mod.ts';"
        "import { stack } from './lib/torch/mod.ts';"
        "import { writeNpy } from './lib/eval/npy.ts';"
        f"const paths = {json.dumps(paths)};"
        "const t = paths.map((p) => prepareImage(p, 224, 3, 256));"
        "using s = stack(t, 0); t.forEach((x) => x.dispose());"
        f"await writeNpy({json.dumps(os.path.join(work, 'lade_crops.npy'))},"
        " { dtype: 'uint8', shape: [...s.shape], data: s.toArray() });"
    )
    subprocess.run([deno(), "eval", dump], check=True)
    mine = np.load(os.path.join(work, "lade_crops.npy"))
    diff = np.abs(mine.astype(np.int16) - crops.astype(np.int16))
    out = {
        "torchvision": torchvision.__version__,
        "images": [os.path.basename(p) for p in paths],
        "logits_images_rel": rel(np.load(os.path.join(work, "img.npy")), ref),
        "logits_npy_rel": rel(np.load(os.path.join(work, "npy.npy")), ref),
        "pixels_differing": int((diff > 0).sum()),
        "pixels_total": int(diff.size),
        "pixel_max_diff": int(diff.max()),
    }
    print(json.dumps(out, indent=1))
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
