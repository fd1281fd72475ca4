/**
 * Synthetic label-shift data for the prior tests: one-dimensional samples
 * x = mu_y + N(0, 1) whose labels come in exact proportions, with the exact
 * class log-likelihoods log N(x; mu_c, 1) (up to a shared constant), so that
 * the true posterior under any prior is known by formula.
 *
 * @module
 */

import { Generator, randn, tensor } from "../../lib/torch/create.ts";
import { scope } from "../../lib/torch/memory.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";

/** Samples with labels in proportions `prior`, their log-likelihoods [n, C] and the empirical prior. */
export function gaussianSamples(
  n: number,
  prior: readonly number[],
  means: readonly number[],
  seed: number,
): { labels: Int32Array; logLik: Tensor; truth: number[] } {
  const labels = new Int32Array(n);
  let k = 0;
  prior.forEach((p, c) => {
    const count = c === prior.length - 1 ? n - k : Math.round(p * n);
    labels.fill(c, k, k + count);
    k += count;
  });
  using g = new Generator(seed);
  const logLik = scope(() => {
    const mu = tensor(Array.from(labels, (y) => means[y]), [n, 1], "float64");
    const x = mu.add(randn([n, 1], { dtype: "float64", generator: g }));
    return x.sub(tensor([...means], [1, means.length], "float64")).square().mul(-0.5);
  });
  const truth = prior.map((_, c) => labels.filter((y) => y === c).length / n);
  return { labels, logLik, truth };
}
