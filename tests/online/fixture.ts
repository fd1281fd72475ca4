/**
 * Synthetic logits for the online tests, with posteriors known by formula:
 * one-dimensional x = mu_y + N(0, 1), class means -2, 0, 2, and logits
 * f_c(x) = -(x - mu_c)^2 / 2, so that softmax(f) is the exact posterior
 * under the uniform prior (a LADE-like model's logits) and f + log q the
 * Bayes rule under prior q.
 *
 * @module
 */

import { Generator, randn, tensor } from "../../lib/torch/create.ts";
import { scope } from "../../lib/torch/memory.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";

/** Class means of the fixture. */
export const MEANS = [-2, 0, 2];

/** `perClass` samples of each class (in class order): labels and logits [n, 3] (float32). */
export function gaussianLogits(
  perClass: number,
  seed: number,
): { labels: Int32Array; logits: Tensor } {
  const C = MEANS.length;
  const labels = Int32Array.from({ length: perClass * C }, (_, i) => Math.floor(i / perClass));
  using g = new Generator(seed);
  const logits = scope(() => {
    const mu = tensor(Array.from(labels, (y) => MEANS[y]), [labels.length, 1], "float64");
    const x = mu.add(randn([labels.length, 1], { dtype: "float64", generator: g }));
    return x.sub(tensor(MEANS, [1, C], "float64")).square().mul(-0.5).to("float32");
  });
  return { labels, logits };
}

/** The same as plain arrays (for .npy fixtures and checks in JS). */
export function gaussianArrays(
  perClass: number,
  seed: number,
): { labels: Int32Array; logits: Float32Array } {
  const { labels, logits } = gaussianLogits(perClass, seed);
  try {
    return { labels, logits: logits.toArray() as Float32Array };
  } finally {
    logits.dispose();
  }
}
