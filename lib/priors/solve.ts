/**
 * A small dense linear solve in libtorch ops (Gauss-Jordan elimination with
 * partial pivoting), for BBSE's C x C confusion system: one step per class,
 * each a handful of whole-matrix ops.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { tensor } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import { cat, type Tensor } from "../torch/tensor.ts";

/**
 * Solves `a x = b` for a square float64 `a` [C, C] and `b` [C]; returns x [C],
 * or null when a pivot is below `tol` (a singular or near-singular system).
 */
export function solveLinear(a: Tensor, b: Tensor, tol = 1e-12): Tensor | null {
  const n = a.shape[0];
  if (a.ndim !== 2 || a.shape[1] !== n || b.numel !== n) {
    throw new InputError("a", "solveLinear needs a square matrix and a matching vector");
  }
  let m = scope(() => cat([a.to("float64"), b.to("float64").reshape(n, 1)], 1));
  try {
    for (let k = 0; k < n; k++) {
      const next = scope((): Tensor | null => {
        const col = m.select(1, k);
        const p = col.narrow(0, k, n - k).abs().argmax().item() + k;
        const pivot = col.select(0, p).item();
        if (!(Math.abs(pivot) > tol)) return null;
        let rows = m;
        if (p !== k) {
          const perm = new BigInt64Array(n);
          for (let i = 0; i < n; i++) perm[i] = BigInt(i === k ? p : i === p ? k : i);
          rows = m.indexSelect(0, tensor(perm, [n]));
        }
        const row = rows.select(0, k).div(pivot);
        // Subtracting (col - e_k) x row zeroes column k elsewhere and turns row k into `row`.
        const ek = new Float64Array(n);
        ek[k] = 1;
        const factors = rows.select(1, k).sub(tensor(ek, [n]));
        return rows.sub(factors.unsqueeze(1).mul(row.unsqueeze(0)));
      });
      m.dispose();
      if (next === null) return null;
      m = next;
    }
    return scope(() => m.select(1, n).contiguous());
  } finally {
    m.dispose();
  }
}
