"""Per-op overhead of a small op in PyTorch: add of two 16-element float32 tensors.

Prints JSON: {"samples_us": [...]} (microseconds per op, one value per repeat).
"""
import json
import sys
import time

import torch

torch.set_num_threads(1)
repeats, number = int(sys.argv[1]), int(sys.argv[2])
a = torch.ones(16)
b = torch.ones(16)
for _ in range(number):  # warm-up
    a + b
samples = []
for _ in range(repeats):
    t0 = time.perf_counter()
    for _ in range(number):
        a + b
    samples.append((time.perf_counter() - t0) / number * 1e6)
print(json.dumps({"samples_us": samples, "torch": torch.__version__}))
