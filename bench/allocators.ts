/**
 * The memory allocators a benchmark runs a process under, as environments
 * for a child process: glibc's malloc as it comes, glibc with lade's
 * thresholds (native/src/malloc_tuning.cpp's, set for PyTorch through
 * glibc's own variables), and tcmalloc, jemalloc and mimalloc preloaded.
 *
 * lade's own side runs with `LADE_ALLOCATOR` (or nothing: lade's default),
 * so that it starts exactly as `lade train` does (lib/cli/allocator.ts
 * re-executes it with the library preloaded); PyTorch's side gets
 * `LD_PRELOAD` directly.
 *
 * @module
 */

import {
  ALLOCATOR_ENV,
  ALLOCATOR_LIBRARIES,
  type AllocatorName,
  EXEC_MARKER_ENV,
  findAllocatorLibrary,
  planAllocator,
} from "../lib/torch/allocator.ts";

/** An allocator set-up a benchmark measures. */
export type AllocatorVariant = "glibc" | "glibc-tuned" | "tcmalloc" | "jemalloc" | "mimalloc";

/** The set-ups PyTorch's reference runs under (the fastest is the reference). */
export const TORCH_VARIANTS: readonly AllocatorVariant[] = [
  "glibc",
  "glibc-tuned",
  "tcmalloc",
  "jemalloc",
];

/** The set-ups lade can run under (`LADE_ALLOCATOR`; glibc is always tuned unless told). */
export const LADE_VARIANTS: readonly AllocatorVariant[] = [
  "glibc-tuned",
  "tcmalloc",
  "jemalloc",
  "mimalloc",
];

/** A variant in words, for tables: "glibc", "glibc+thresholds", "tcmalloc". */
export function variantLabel(v: AllocatorVariant): string {
  return v === "glibc-tuned" ? "glibc+thr" : v;
}

/** lade's thresholds (malloc_tuning.cpp: M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD 1 GiB) as glibc's variables. */
const GLIBC_THRESHOLDS = {
  MALLOC_MMAP_THRESHOLD_: String(32 << 20),
  MALLOC_TRIM_THRESHOLD_: String(1 << 30),
};

/** This process's environment without any allocator choice. */
function baseEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  for (
    const k of [
      "LD_PRELOAD",
      EXEC_MARKER_ENV,
      ALLOCATOR_ENV,
      "LADE_MALLOC_TUNING",
      ...Object.keys(GLIBC_THRESHOLDS),
    ]
  ) delete env[k];
  return env;
}

/** Whether `v`'s library is installed here (glibc always is). */
export function variantAvailable(v: AllocatorVariant): boolean {
  return v === "glibc" || v === "glibc-tuned" ||
    findAllocatorLibrary(v as Exclude<AllocatorName, "glibc">) !== undefined;
}

/** The whole environment (use with `clearEnv`) of a PyTorch process under `v`. */
export function torchEnv(v: AllocatorVariant): Record<string, string> {
  const env = baseEnv();
  if (v === "glibc-tuned") Object.assign(env, GLIBC_THRESHOLDS);
  else if (v !== "glibc") {
    const lib = findAllocatorLibrary(v as Exclude<AllocatorName, "glibc">);
    if (lib === undefined) {
      throw new Error(
        `${v} is not installed (${
          ALLOCATOR_LIBRARIES[v as Exclude<AllocatorName, "glibc">].package
        }: bash scripts/setup.sh --bench)`,
      );
    }
    env.LD_PRELOAD = lib;
  }
  return env;
}

/**
 * The whole environment (use with `clearEnv`) of a lade process under `v`,
 * or under lade's default when `v` is undefined (as a user's `lade train`).
 */
export function ladeEnv(v?: AllocatorVariant): Record<string, string> {
  const env = baseEnv();
  if (v === "glibc") Object.assign(env, { [ALLOCATOR_ENV]: "glibc", LADE_MALLOC_TUNING: "0" });
  else if (v === "glibc-tuned") env[ALLOCATOR_ENV] = "glibc";
  else if (v !== undefined) env[ALLOCATOR_ENV] = v;
  return env;
}

/** The allocator lade's default start-up gives on this machine (what `info` would say). */
export function ladeDefault(): AllocatorVariant {
  const env = ladeEnv();
  const plan = planAllocator({
    env: (k) => env[k],
    pid: -1,
    find: findAllocatorLibrary,
  });
  return plan.name === "glibc" ? "glibc-tuned" : plan.name;
}
