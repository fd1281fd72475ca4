/**
 * Per-op overhead through lade's FFI against PyTorch from Python, in one run:
 * `c = a + b` for two 16-element float32 tensors, the result freed each time
 * (by dispose(), as a scope would). Prints both medians and the ratio.
 *
 * Run: deno run -A bench/op_overhead_bench.ts
 *
 * @module
 */

import { setNumThreads, tensor } from "../lib/torch/mod.ts";
import { median, runPython } from "./python.ts";

const REPEATS = 15;
const NUMBER = 50_000;

/** Median microseconds per op for lade. */
export function ladeOverhead(): { median: number; samples: number[] } {
  setNumThreads(1);
  const a = tensor(new Float32Array(16).fill(1));
  const b = tensor(new Float32Array(16).fill(1));
  for (let i = 0; i < NUMBER; i++) a.add(b).dispose(); // warm-up (JIT)
  const samples: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < NUMBER; i++) a.add(b).dispose();
    samples.push(((performance.now() - t0) / NUMBER) * 1000);
  }
  a.dispose();
  b.dispose();
  return { median: median(samples), samples };
}

if (import.meta.main) {
  // Interleave the two so that machine noise hits both alike.
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let round = 0; round < 3; round++) {
    ours.push(...ladeOverhead().samples);
    const py = await runPython("op_overhead.py", [String(REPEATS), String(NUMBER)]) as
      | { samples_us: number[] }
      | null;
    if (py) theirs.push(...py.samples_us);
  }
  const m = median(ours);
  console.log(`op overhead, add of two 16-element tensors (1 thread):`);
  console.log(`  lade (Deno FFI)   median ${m.toFixed(3)} us/op`);
  if (theirs.length > 0) {
    const p = median(theirs);
    console.log(`  PyTorch (Python)  median ${p.toFixed(3)} us/op`);
    console.log(`  ratio lade / PyTorch = ${(m / p).toFixed(2)} (target <= 1.00)`);
  }
}
