/**
 * What the model tests that set lade's switches (LADE_DNNL, LADE_WINOGRAD)
 * share: running a pass with environment variables set, and the distance
 * between two gradient vectors.
 *
 * @module
 */

/** Runs `fn` with the environment variables of `env` set, then restores them. */
export function withEnv<T>(env: Record<string, string>, fn: () => T): T {
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

/** The L2 norms of `reference - other` and of `reference` (same lengths). */
export function l2Diff(
  reference: Float32Array,
  other: Float32Array,
): { diff: number; norm: number } {
  let diff = 0, norm = 0;
  for (let i = 0; i < reference.length; i++) {
    diff += (reference[i] - other[i]) ** 2;
    norm += reference[i] ** 2;
  }
  return { diff: Math.sqrt(diff), norm: Math.sqrt(norm) };
}
