/**
 * Runs a Python benchmark script with Debian's python3-torch, for
 * side-by-side comparisons (benchmarks only; the product never needs Python).
 *
 * @module
 */

/** The interpreter that has python3-torch (Debian's, not a pyenv one). */
export const PYTHON = Deno.env.get("LADE_BENCH_PYTHON") ?? "/usr/bin/python3";

/** Runs `script` with `args`; returns its stdout parsed as JSON, or null (with a note) when torch is missing. */
export async function runPython(script: string, args: string[] = []): Promise<unknown | null> {
  const path = new URL(script, import.meta.url).pathname;
  try {
    const out = await new Deno.Command(PYTHON, { args: [path, ...args], stderr: "piped" }).output();
    if (out.code !== 0) {
      console.error(
        `python benchmark failed: ${new TextDecoder().decode(out.stderr).trim().split("\n").pop()}`,
      );
      console.error("(install python3-torch: bash scripts/setup.sh --bench)");
      return null;
    }
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } catch (error) {
    console.error(`cannot run ${PYTHON}: ${(error as Error).message}`);
    return null;
  }
}

/** The median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
