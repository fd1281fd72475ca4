#!/usr/bin/env python3
"""Parity of lade's networks and weights with torchvision's, both ways.

For ResNet-50, ResNeXt-50 32x4d and ResNet-152 (torchvision 0.14, Debian's
python3-torchvision): random weights (batch-norm statistics and affine
parameters randomised too, so eval-mode batch norm is exercised), saved as a
PyTorch state dict (.pth, torch.save) and as safetensors (written here by
hand: the format is a JSON header and raw bytes, no package needed). Then,
on one random batch of normalised 224-pixel images (.npy):

  torchvision -> lade: `lade predict --weights F --arch A --npy x.npy
                       --save-logits L.npy` for the .pth and the safetensors
                       file; lade's logits against torchvision's.
  lade -> torchvision: `lade weights convert F.pth --out lade.safetensors`
                       (the weights through a lade model and lade's writer);
                       torchvision loads that file with load_state_dict(
                       strict=True) and its logits are compared with lade's
                       predictions from the same file.

The figure per architecture and direction is the relative difference
max|a - b| / max|b| over all logits (b the reference), and the largest
element-wise |a - b| / (|b| + 1e-3) beside it.

    /usr/bin/python3 bench/torchvision_parity.py [--batch 4] [--classes 100] [--keep DIR]

Needs the native library built (deno task build) and Deno on the PATH (or
DENO=/path/to/deno). Run from the repository root. Not a test: CI uses the
small fixtures of tests/weights/ instead and needs no Python.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

ARCHS = [
    ("resnet50", torchvision.models.resnet50),
    ("resnext50", torchvision.models.resnext50_32x4d),
    ("resnet152", torchvision.models.resnet152),
]

DTYPES = {torch.float32: "F32", torch.int64: "I64", torch.float16: "F16", torch.float64: "F64"}
NP = {"F32": np.float32, "I64": np.int64, "F16": np.float16, "F64": np.float64}


def save_safetensors(state, path):
    header, blobs, offset = {}, [], 0
    for name, t in state.items():
        data = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=NP[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=g)))


def differences(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    rel = float(np.abs(a - b).max() / np.abs(b).max())
    elem = float((np.abs(a - b) / (np.abs(b) + 1e-3)).max())
    return rel, elem


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--keep", help="keep the files in this folder")
    ap.add_argument("--archs", default=",".join(a for a, _ in ARCHS))
    args = ap.parse_args()
    deno = os.environ.get("DENO") or shutil.which("deno")
    if deno is None:
        sys.exit("torchvision_parity: Deno not found (set DENO=/path/to/deno)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    lade = [deno, "run", "-A", os.path.join(root, "main.ts")]
    work = args.keep or tempfile.mkdtemp(prefix="lade-parity-")
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, 224, 224)
    np.save(os.path.join(work, "x.npy"), x.numpy())
    results = []
    try:
        for i, (arch, build) in enumerate(ARCHS):
            if arch not in args.archs.split(","):
                continue
            torch.manual_seed(100 + i)
            model = build(num_classes=args.classes)
            randomise(model, 200 + i)
            model.eval()
            with torch.no_grad():
                ref = model(x).numpy()
            pth = os.path.join(work, f"{arch}.pth")
            st = os.path.join(work, f"{arch}.safetensors")
            torch.save(model.state_dict(), pth)
            save_safetensors(model.state_dict(), st)

            def predict(weights, tag):
                out = os.path.join(work, f"{arch}_{tag}_logits.npy")
                subprocess.run(lade + ["predict", "--weights", weights, "--arch", arch,
                                       "--npy", os.path.join(work, "x.npy"), "--prior", "train",
                                       "--topk", "1", "--save-logits", out],
                               check=True, stdout=subprocess.DEVNULL)
                return np.load(out)

            for tag, path in [("pth", pth), ("safetensors", st)]:
                rel, elem = differences(predict(path, tag), ref)
                results.append((arch, f"torchvision -> lade ({tag})", rel, elem))

            # lade -> torchvision: lade's writer, torchvision's strict loader.
            exported = os.path.join(work, f"{arch}_lade.safetensors")
            subprocess.run(lade + ["weights", "convert", pth, "--arch", arch, "--out", exported],
                           check=True, stdout=subprocess.DEVNULL)
            lade_logits = predict(exported, "lade")
            state, meta = load_safetensors(exported)
            fresh = build(num_classes=args.classes)
            fresh.load_state_dict(state, strict=True)
            fresh.eval()
            with torch.no_grad():
                back = fresh(x).numpy()
            rel, elem = differences(back, lade_logits)
            results.append((arch, "lade -> torchvision (strict load)", rel, elem))
            assert meta.get("arch") == arch, meta
            for p in (pth, st, exported):
                os.remove(p)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}; "
          f"batch {args.batch} x 3 x 224 x 224, {args.classes} classes, eval mode, CPU")
    print(f"{'arch':<10} {'direction':<36} {'max|d|/max|ref|':>16} {'max elementwise':>16}")
    worst = 0.0
    for arch, direction, rel, elem in results:
        print(f"{arch:<10} {direction:<36} {rel:>16.2e} {elem:>16.2e}")
        worst = max(worst, rel)
    print(f"worst relative difference {worst:.2e} ({'within' if worst <= 1e-4 else 'ABOVE'} 1e-4)")
    sys.exit(0 if worst <= 1e-4 else 1)


if __name__ == "__main__":
    main()
