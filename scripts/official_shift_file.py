"""Shift file of the official LADE notebooks' shifted test sets.

The official notebooks (hyperconnect/LADE: notebooks/imagenet-shift-calib.ipynb,
notebooks/cifar100-shift-calib.ipynb, class_distribution) rank the classes by
training prior with numpy's argsort (not a stable sort) and give rank k of C
the count int(img_max * imb_factor ** (k / (C - 1))) (forward) or the reverse
(backward); get_mask then keeps the first n_c test samples of each class in
file order. lade's built-in forwardR/backwardR sets do the same with ties in
the training counts ranked by class index; numpy's argsort may order ties
differently (ImageNet-LT has many). This script writes the notebooks' counts
as a shift file, so `lade evaluate --shift-file F.json` uses exactly their
sets:

    /usr/bin/python3 scripts/official_shift_file.py --train-list ImageNet_LT_train.txt \
        --per-class 50 > imagenet_lt_shifts.json
    /usr/bin/python3 scripts/official_shift_file.py --train-counts counts.json --per-class 100

The tie order of np.argsort depends on numpy's sorting code (version and CPU
features), so for the exact sets run it with the numpy the numbers you compare
against were made with. Needs only numpy.
"""

import argparse
import json
import sys

import numpy as np

GRID = [
    ("forward50", 0.02, False),
    ("forward25", 0.04, False),
    ("forward10", 0.1, False),
    ("forward5", 0.2, False),
    ("forward2", 0.5, False),
    ("uniform", None, False),
    ("backward2", 0.5, True),
    ("backward5", 0.2, True),
    ("backward10", 0.1, True),
    ("backward25", 0.04, True),
    ("backward50", 0.02, True),
]


def train_counts(args):
    if args.train_counts:
        with open(args.train_counts) as f:
            return np.array(json.load(f), dtype=np.float64)
    labels = []
    with open(args.train_list) as f:
        for line in f:
            if line.strip():
                labels.append(int(line.strip().split()[-1]))
    counts = np.zeros(max(labels) + 1)
    for y in labels:
        counts[y] += 1
    return counts


def class_distribution(prior, img_max, imb_factor, reverse):
    # As the notebooks' class_distribution(name, img_max, class_total).
    class_total = len(prior)
    cls_idx = prior.argsort()
    if imb_factor is None:
        return np.array([img_max] * class_total)
    img_num_per_cls = np.zeros_like(cls_idx)
    for idx, cls in enumerate(cls_idx[::-1]):
        if reverse:
            num = img_max * (imb_factor ** ((class_total - 1 - idx) / (class_total - 1.0)))
        else:
            num = img_max * (imb_factor ** (idx / (class_total - 1.0)))
        img_num_per_cls[cls] = num
    return img_num_per_cls


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--train-list", help="training list, lines 'path label'")
    g.add_argument("--train-counts", help="JSON array of per-class training counts")
    p.add_argument("--per-class", type=int, required=True, help="img_max: 50 (ImageNet-LT), 100 (CIFAR-100)")
    args = p.parse_args()
    counts = train_counts(args)
    prior = counts / counts.sum()
    sets = [
        {"name": name, "counts": [int(n) for n in class_distribution(prior, args.per_class, f, rev)]}
        for name, f, rev in GRID
    ]
    json.dump({"numpy": np.__version__, "sets": sets}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
