"""Colour jitter parity: lade's native ColorJitter against Pillow's ImageEnhance.

torchvision's ColorJitter(brightness, contrast, saturation, hue=0) on a PIL
image (what the official LADE code ran for ImageNet-LT and Places-LT) calls
ImageEnhance.Brightness / Contrast / Color with the drawn factors in the drawn
order. This script applies exactly those calls to the images and draws that
bench/color_jitter_parity.ts wrote, and compares with lade's output pixel by
pixel. Needs only Pillow and numpy (no torch):

    /usr/bin/python3 bench/color_jitter_parity.py CASES.json
"""

import json
import sys

import numpy as np
from PIL import Image, ImageEnhance

ENHANCERS = [ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color]


def main(path):
    with open(path) as f:
        cases = json.load(f)
    mismatched = 0
    pixels = 0
    worst = 0
    for case in cases:
        c, h, w = case["shape"]
        chw = np.array(case["image"], dtype=np.uint8).reshape(c, h, w)
        img = Image.fromarray(np.ascontiguousarray(chw.transpose(1, 2, 0)), "RGB")
        for op in case["order"]:
            factor = case["factors"][op]
            if factor != 1.0:
                img = ENHANCERS[op](img).enhance(float(np.float32(factor)))
        want = np.asarray(img).transpose(2, 0, 1).astype(np.int32)
        got = np.array(case["lade"], dtype=np.int32).reshape(c, h, w)
        diff = np.abs(want - got)
        pixels += diff.size
        mismatched += int((diff != 0).sum())
        worst = max(worst, int(diff.max()))
    print(
        json.dumps(
            {"cases": len(cases), "values": pixels, "mismatched": mismatched, "max_abs_diff": worst}
        )
    )
    return 0 if mismatched == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
