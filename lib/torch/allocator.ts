/**
 * The memory allocator libtorch's CPU tensors get: glibc's malloc (with the
 * thresholds native/src/malloc_tuning.cpp sets), or tcmalloc, jemalloc or
 * mimalloc preloaded into the process.
 *
 * A training step frees and reallocates the same activations (megabytes
 * each) hundreds of times, and an evaluation allocates a batch's worth per
 * layer: which allocator serves them changes lade's speed by up to a half
 * (README, Benchmarks). An allocator can only replace malloc before the
 * first allocation, so it is preloaded (`LD_PRELOAD`) and the process
 * started again with it: lib/cli/allocator.ts re-executes lade once, in
 * place (the same PID), before libtorch is loaded. This module decides what
 * to preload and why ({@link planAllocator}, pure), reports what is in use
 * ({@link allocatorStatus}) and performs the re-execution
 * ({@link execWithEnv}).
 *
 * `LADE_ALLOCATOR=glibc|tcmalloc|jemalloc|mimalloc` chooses by hand; a
 * user's own `LD_PRELOAD` of an allocator is kept when it is not set.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** The allocators lade knows. */
export const ALLOCATORS = ["glibc", "tcmalloc", "jemalloc", "mimalloc"] as const;

/** An allocator's name. */
export type AllocatorName = typeof ALLOCATORS[number];

/**
 * The allocator lade preloads unless told otherwise: tcmalloc, the fastest
 * of the four for lade's training and evaluation on the networks measured
 * (README, Benchmarks: cnn28, ResNet-32 and ResNet-50).
 */
export const DEFAULT_ALLOCATOR: AllocatorName = "tcmalloc";

/** The variable that chooses the allocator by hand. */
export const ALLOCATOR_ENV = "LADE_ALLOCATOR";

/**
 * Set (to the PID) by the process that re-executes itself with an
 * allocator: the re-executed image (the same PID) never does it again, and
 * children that inherit the preload know it was lade's choice.
 */
export const EXEC_MARKER_ENV = "LADE_ALLOCATOR_EXEC";

/** A preloadable allocator's shared library and the Debian package that installs it. */
export interface AllocatorLibrary {
  /** The file name the dynamic loader knows (soname). */
  file: string;
  /** The Debian package. */
  package: string;
  /** Matches the base name of any build of it in `LD_PRELOAD` (a user's own). */
  pattern: RegExp;
}

/** The preloadable allocators' libraries. */
export const ALLOCATOR_LIBRARIES: Readonly<
  Record<Exclude<AllocatorName, "glibc">, AllocatorLibrary>
> = {
  tcmalloc: {
    file: "libtcmalloc_minimal.so.4",
    package: "libtcmalloc-minimal4",
    pattern: /^libtcmalloc/,
  },
  jemalloc: { file: "libjemalloc.so.2", package: "libjemalloc2", pattern: /^libjemalloc/ },
  mimalloc: { file: "libmimalloc.so.2", package: "libmimalloc2.0", pattern: /^libmimalloc/ },
};

/** The folders searched for an allocator's library, in order (Debian's multiarch first). */
export function libraryDirs(): string[] {
  const triple = `${Deno.build.arch}-linux-gnu`;
  return [
    `/usr/lib/${triple}`,
    `/lib/${triple}`,
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
  ];
}

/** The path of `name`'s library on this machine, or undefined when it is not installed. */
export function findAllocatorLibrary(name: Exclude<AllocatorName, "glibc">): string | undefined {
  for (const dir of libraryDirs()) {
    const path = `${dir}/${ALLOCATOR_LIBRARIES[name].file}`;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** Reads `LADE_ALLOCATOR`: undefined when unset or empty; an InputError for an unknown name. */
export function requestedAllocator(value: string | undefined): AllocatorName | undefined {
  if (value === undefined || value === "") return undefined;
  const name = value.trim().toLowerCase();
  if (!(ALLOCATORS as readonly string[]).includes(name)) {
    throw new InputError(
      ALLOCATOR_ENV,
      `must be ${ALLOCATORS.join(", ")}; got '${value}'`,
    );
  }
  return name as AllocatorName;
}

/** The allocator a library path or name belongs to (by its base name), or undefined. */
export function allocatorOfLibrary(path: string): Exclude<AllocatorName, "glibc"> | undefined {
  const base = path.slice(path.lastIndexOf("/") + 1);
  for (const [name, lib] of Object.entries(ALLOCATOR_LIBRARIES)) {
    if (lib.pattern.test(base)) return name as Exclude<AllocatorName, "glibc">;
  }
  return undefined;
}

/** The entries of an `LD_PRELOAD` value (colons or spaces separate them, as ld.so reads it). */
export function preloadEntries(value: string | undefined): string[] {
  return (value ?? "").split(/[:\s]+/).filter((e) => e !== "");
}

/** What to do about the allocator at start. */
export interface AllocatorPlan {
  /** `keep`: run on as is; `exec`: start again with `preload` as `LD_PRELOAD`. */
  action: "keep" | "exec";
  /** The allocator the process will use. */
  name: AllocatorName;
  /** Its library's path (preloaded ones). */
  library?: string;
  /** With `exec`: the new `LD_PRELOAD` (empty: unset it). */
  preload?: string;
  /** Why this allocator, in words (`info` shows it). */
  why: string;
}

/** The environment and machine facts a plan depends on. */
export interface PlanInput {
  /** The environment's variables. */
  env: (name: string) => string | undefined;
  /** This process's PID. */
  pid: number;
  /** The path of an allocator's library, or undefined when absent. */
  find: (name: Exclude<AllocatorName, "glibc">) => string | undefined;
}

/** glibc's malloc as lade runs it: with its thresholds, unless the user tunes malloc. */
function glibcWhy(env: PlanInput["env"]): string {
  const tuning = glibcTuning(env);
  return tuning === "lade" ? "glibc malloc with lade's thresholds" : `glibc malloc (${tuning})`;
}

/**
 * Whether lade's glibc thresholds apply: `lade`, or what leaves glibc's
 * malloc to the user, in words. The same rule as
 * native/src/malloc_tuning.cpp's user_tunes_malloc (keep the two alike).
 */
export function glibcTuning(env: PlanInput["env"]): string {
  if (env("LADE_MALLOC_TUNING") === "0") return "as it comes: LADE_MALLOC_TUNING=0";
  if (env("GLIBC_TUNABLES")?.includes("glibc.malloc.")) {
    return "as GLIBC_TUNABLES tunes it";
  }
  for (
    const name of [
      "MALLOC_MMAP_THRESHOLD_",
      "MALLOC_TRIM_THRESHOLD_",
      "MALLOC_TOP_PAD_",
      "MALLOC_MMAP_MAX_",
    ]
  ) {
    if (env(name) !== undefined) return `as ${name} tunes it`;
  }
  return "lade";
}

/**
 * Decides the allocator from the environment (pure: `input` says what the
 * machine has). An allocator the user preloaded is kept unless
 * `LADE_ALLOCATOR` asks for another; otherwise `LADE_ALLOCATOR` or the
 * default is preloaded by one re-execution, which the marker (this PID)
 * prevents from happening twice; an absent library leaves glibc with
 * lade's thresholds, and says so. Throws an InputError for an unknown
 * `LADE_ALLOCATOR`.
 */
export function planAllocator(input: PlanInput): AllocatorPlan {
  const { env } = input;
  const requested = requestedAllocator(env(ALLOCATOR_ENV));
  const entries = preloadEntries(env("LD_PRELOAD"));
  const preloaded = entries.find((e) => allocatorOfLibrary(e) !== undefined);
  const preloadedName = preloaded === undefined ? undefined : allocatorOfLibrary(preloaded);
  const marker = env(EXEC_MARKER_ENV);
  const execedHere = marker === String(input.pid);
  const byLade = marker !== undefined;
  const others = entries.filter((e) => allocatorOfLibrary(e) === undefined);
  const how = requested === undefined
    ? `lade's default (${ALLOCATOR_ENV} chooses another)`
    : `${ALLOCATOR_ENV}=${requested}`;

  if (requested === undefined && preloadedName !== undefined && !byLade) {
    return {
      action: "keep",
      name: preloadedName,
      library: preloaded,
      why: `preloaded by the user's LD_PRELOAD`,
    };
  }
  const wanted = requested ?? DEFAULT_ALLOCATOR;
  if (wanted === "glibc") {
    if (preloadedName === undefined || execedHere) {
      return { action: "keep", name: "glibc", why: `${glibcWhy(env)}: ${how}` };
    }
    return {
      action: "exec",
      name: "glibc",
      preload: others.join(":"),
      why: `${glibcWhy(env)}: ${how}`,
    };
  }
  if (preloadedName === wanted) {
    return { action: "keep", name: wanted, library: preloaded, why: how };
  }
  const library = input.find(wanted);
  if (library === undefined) {
    const pkg = ALLOCATOR_LIBRARIES[wanted].package;
    const missing = `${wanted} (${how}) is not installed: no ${
      ALLOCATOR_LIBRARIES[wanted].file
    } (apt-get install ${pkg}; scripts/setup.sh installs it)`;
    if (preloadedName !== undefined) {
      return { action: "keep", name: preloadedName, library: preloaded, why: missing };
    }
    return { action: "keep", name: "glibc", why: `${glibcWhy(env)}: ${missing}` };
  }
  if (execedHere) {
    // Started again with it, yet it is not preloaded: the loader refused it.
    return {
      action: "keep",
      name: preloadedName ?? "glibc",
      ...(preloaded === undefined ? {} : { library: preloaded }),
      why:
        `${preloadedName === undefined ? glibcWhy(env) : preloadedName}: preloading ${library} ` +
        `failed (${how})`,
    };
  }
  return {
    action: "exec",
    name: wanted,
    library,
    preload: [...others, library].join(":"),
    why: how,
  };
}

/** The allocator in use, as `info` reports it. */
export interface AllocatorStatus {
  /** glibc, tcmalloc, jemalloc or mimalloc: the one whose library is mapped into this process. */
  name: AllocatorName;
  /** Its library (preloaded ones). */
  library?: string;
  /** Why it is this one, in words. */
  why: string;
  /** With glibc: whether lade's thresholds apply (native/src/malloc_tuning.cpp). */
  glibc_thresholds?: boolean;
}

/** The preloaded allocators' libraries mapped into this process (/proc/self/maps). */
export function mappedAllocators(): { name: Exclude<AllocatorName, "glibc">; path: string }[] {
  let maps: string;
  try {
    maps = Deno.readTextFileSync("/proc/self/maps");
  } catch {
    return [];
  }
  const seen = new Map<string, Exclude<AllocatorName, "glibc">>();
  for (const line of maps.split("\n")) {
    const path = line.slice(line.indexOf("/"));
    if (!line.includes("/")) continue;
    const name = allocatorOfLibrary(path);
    if (name !== undefined && !seen.has(path)) seen.set(path, name);
  }
  return [...seen].map(([path, name]) => ({ name, path }));
}

/**
 * The allocator this process uses and why: the library mapped into it (not
 * only what was asked for), with the reason the start-up plan gives.
 */
export function allocatorStatus(): AllocatorStatus {
  const env = (k: string) => Deno.env.get(k);
  let plan: AllocatorPlan | undefined;
  try {
    plan = planAllocator({ env, pid: Deno.pid, find: findAllocatorLibrary });
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
  }
  const mapped = mappedAllocators()[0];
  if (mapped !== undefined) {
    const why = plan && plan.name === mapped.name ? plan.why : "preloaded (LD_PRELOAD)";
    return { name: mapped.name, library: mapped.path, why };
  }
  const why = plan && plan.name === "glibc"
    ? plan.why
    : `${glibcWhy(env)}: ${plan ? `${plan.name} was not preloaded` : "LADE_ALLOCATOR is invalid"}`;
  return { name: "glibc", why, glibc_thresholds: glibcTuning(env) === "lade" };
}

/**
 * Replaces this process's image with `path` run with `argv` and `env`
 * (libc's execve through Deno's FFI: the same PID, the signals of a
 * terminal or Slurm still reach one process). Returns only on failure, with
 * the reason.
 */
export function execWithEnv(
  path: string,
  argv: readonly (string | Uint8Array)[],
  env: Readonly<Record<string, string>>,
): string {
  let libc: Deno.DynamicLibrary<{
    execve: { parameters: ["buffer", "buffer", "buffer"]; result: "i32" };
  }>;
  try {
    libc = Deno.dlopen("libc.so.6", {
      execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
    });
  } catch (e) {
    return `cannot open libc: ${(e as Error).message}`;
  }
  const enc = new TextEncoder();
  const keep: Uint8Array[] = [];
  // An argument given as bytes is passed as it is (a file name that is not UTF-8).
  const cString = (s: string | Uint8Array) => {
    const b = typeof s === "string" ? enc.encode(`${s}\0`) : new Uint8Array([...s, 0]);
    keep.push(b);
    return b;
  };
  // NULL-terminated arrays of pointers to the NUL-terminated strings.
  const pointers = (xs: readonly (string | Uint8Array)[]) => {
    const out = new BigUint64Array(xs.length + 1);
    xs.forEach((x, i) => {
      out[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(cString(x))));
    });
    return out;
  };
  const file = cString(path);
  const args = pointers(argv);
  const envp = pointers(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  const rc = libc.symbols.execve(file, args, envp);
  libc.close();
  return `execve ${path} returned ${rc}`;
}

/**
 * This process's command line as the kernel holds it (/proc/self/cmdline),
 * each argument's exact bytes (a file name need not be UTF-8, and decoding
 * it would lose the bytes the re-executed process must open), or undefined.
 */
export function ownCommandLine(): Uint8Array[] | undefined {
  try {
    const raw = Deno.readFileSync("/proc/self/cmdline");
    const argv: Uint8Array[] = [];
    let start = 0;
    for (let i = raw.indexOf(0); i !== -1; i = raw.indexOf(0, start)) {
      argv.push(raw.slice(start, i));
      start = i + 1;
    }
    if (start < raw.length) argv.push(raw.slice(start));
    return argv.length > 0 ? argv : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts this process again in place with the allocator `plan` asks for
 * (when it asks for an exec): `LD_PRELOAD` set, the marker set to this PID.
 * Returns only when that was impossible, with the reason (then the process
 * runs on with what it has).
 */
export function execPlan(plan: AllocatorPlan): string | undefined {
  if (plan.action !== "exec") return undefined;
  const argv = ownCommandLine();
  if (argv === undefined) return "cannot read /proc/self/cmdline";
  const env = Deno.env.toObject();
  if (plan.preload) env.LD_PRELOAD = plan.preload;
  else delete env.LD_PRELOAD;
  env[EXEC_MARKER_ENV] = String(Deno.pid);
  return execWithEnv(Deno.execPath(), argv, env);
}

/**
 * Lade's start-up: preloads the allocator `LADE_ALLOCATOR` (or the default)
 * names by re-executing this process in place, when it is installed and not
 * preloaded yet. Returns when nothing needs doing, or when the re-execution
 * was impossible (no FFI or environment permission, no /proc): then the
 * process runs on with glibc's malloc, and {@link allocatorStatus} says so.
 * Throws an InputError for an unknown `LADE_ALLOCATOR`.
 */
export function startWithAllocator(): void {
  const plan = planAllocator({
    env: (k) => Deno.env.get(k),
    pid: Deno.pid,
    find: findAllocatorLibrary,
  });
  if (plan.action !== "exec") return;
  try {
    execPlan(plan);
  } catch {
    // A restricted `deno run` (no FFI or environment permission): run on as is.
  }
}

/** The allocator in use as a short label for tables: "tcmalloc", "glibc+thr" (lade's thresholds). */
export function allocatorLabel(status: AllocatorStatus = allocatorStatus()): string {
  return status.name === "glibc" && status.glibc_thresholds ? "glibc+thr" : status.name;
}
