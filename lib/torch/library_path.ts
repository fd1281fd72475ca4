/**
 * Where lade's native library lives, and which libtorch it serves.
 *
 * Order:
 * 1. the `LADE_NATIVE_LIB` environment variable;
 * 2. inside a single `lade` binary (scripts/compile.ts), the library it
 *    carries, when it was built for this machine's libtorch; otherwise one
 *    built for that libtorch from the sources it carries, once, into
 *    `~/.cache/lade/native-<sources>-<libtorch>/` (`XDG_CACHE_HOME`
 *    honoured). The binary is either self-extracting (its app folder, in
 *    `LADE_APP_DIR`, holds liblade.so, torch.json and native.tar.gz) or a
 *    `deno compile` binary (the same files embedded);
 * 3. otherwise `build/native/liblade.so` of this checkout, which
 *    `deno task setup` builds.
 *
 * Beside every library lade builds lies its `torch.json`: the libtorch it was
 * built against (lib/torch/libtorch.ts). The machine's libtorch is looked up
 * only in a binary, where it decides between the carried library and a build
 * (the same version in the same folder is a match: the library's RPATH points
 * at the folder it was linked against).
 *
 * Building takes a minute or two; it is announced through
 * {@link onNativeNotice} (the command line prints the line on stderr). A
 * build needs bash, tar, cmake, a C++ compiler and make or ninja; without
 * them the error names what is missing. Concurrent first runs wait for one
 * build (a lock file) and the finished folder is renamed into place, so the
 * cache is never seen half-written.
 *
 * @module
 */

import { NativeLibraryError } from "../errors.ts";
import {
  findLibtorch,
  libtorchId,
  readTorchJson,
  sameLibtorch,
  type TorchBuild,
  whereFound,
} from "./libtorch.ts";

/** The environment variable that overrides the library path. */
export const LIBRARY_ENV = "LADE_NATIVE_LIB";
/** The environment variable a self-extracting binary sets to its unpacked app folder. */
export const APP_DIR_ENV = "LADE_APP_DIR";

const LIBRARY_NAME = Deno.build.os === "darwin" ? "liblade.dylib" : "liblade.so";

/** The library inside the checkout (or inside a compiled binary's embedded files). */
export const BUILT_LIBRARY = new URL(`../../build/native/${LIBRARY_NAME}`, import.meta.url);
/** The libtorch the built library was built against (written by scripts/build-native.sh). */
export const BUILT_TORCH_JSON = new URL("../../build/native/torch.json", import.meta.url);
/** The native sources a `deno compile` binary carries (written by scripts/compile.ts). */
export const EMBEDDED_SOURCES = new URL(
  "../../build/compile/native-sources.tar.gz",
  import.meta.url,
);

/** Where the library in use came from. */
export type LibraryOrigin = "LADE_NATIVE_LIB" | "checkout" | "carried" | "built";

/** The library in use. */
export interface NativeLibraryChoice {
  /** Its path (a real file). */
  path: string;
  /** Where it came from: `built` is a binary's build for this machine's libtorch. */
  origin: LibraryOrigin;
  /** The libtorch it was built against (its torch.json), with `source` as found here; if known. */
  torch?: TorchBuild;
}

let notice: (line: string) => void = () => {};

/**
 * Sets the receiver of the one-line notices the library loader gives (a
 * build of the native library for this machine's libtorch, which takes a
 * minute or two). Nothing is printed without one.
 *
 * @example Printing the loader's notices
 * ```ts
 * import { onNativeNotice } from "./mod.ts";
 *
 * onNativeNotice((line) => console.error(`lade: ${line}`));
 * ```
 */
export function onNativeNotice(handler: (line: string) => void): void {
  notice = handler;
}

/** True when running inside a binary made by `deno compile`. */
export function isCompiled(): boolean {
  return (import.meta.dirname ?? "").includes("deno-compile-");
}

function pathOf(url: URL): string {
  return decodeURIComponent(url.pathname);
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** lade's cache folder: `$XDG_CACHE_HOME/lade`, else `~/.cache/lade`. */
export function cacheRoot(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/lade`;
  const home = Deno.env.get("HOME");
  return home ? `${home}/.cache/lade` : `${Deno.cwd()}/.lade-cache`;
}

/** A folder holding a library and its torch.json. */
function ready(dir: string): boolean {
  return isFile(`${dir}/${LIBRARY_NAME}`) && isFile(`${dir}/torch.json`);
}

/** What a single binary carries: its library, that library's torch.json, the native sources. */
interface Carried {
  torch: TorchBuild;
  /** The carried library as a real file. */
  library(): string;
  /** The path of the sources' .tar.gz (written into `tmp` when it is not a file yet). */
  sources(tmp: string): string;
}

function carriedTorch(path: string, where: string): TorchBuild {
  const torch = readTorchJson(path);
  if (!torch?.lade_sources) {
    throw new NativeLibraryError(
      `${where} has no valid torch.json: rebuild the binary with deno task compile`,
    );
  }
  return torch;
}

/** The app folder of a self-extracting binary. */
function appCarried(dir: string): Carried {
  const torch = carriedTorch(`${dir}/torch.json`, `the lade app folder ${dir}`);
  return {
    torch,
    library: () => `${dir}/${LIBRARY_NAME}`,
    sources: () => `${dir}/native.tar.gz`,
  };
}

/** The files a `deno compile` binary embeds (readable, but not loadable in place). */
function embeddedCarried(): Carried {
  const torch = carriedTorch(pathOf(BUILT_TORCH_JSON), "this binary");
  return {
    torch,
    library: () => {
      // dlopen needs a real file: the carried library goes where a build for
      // its own libtorch would.
      const dir = `${cacheRoot()}/native-${torch.lade_sources}-${libtorchId(torch)}`;
      if (!ready(dir)) {
        Deno.mkdirSync(cacheRoot(), { recursive: true });
        const tmp = Deno.makeTempDirSync({ dir: cacheRoot(), prefix: ".native-unpack-" });
        try {
          Deno.writeFileSync(`${tmp}/${LIBRARY_NAME}`, Deno.readFileSync(BUILT_LIBRARY), {
            mode: 0o755,
          });
          Deno.writeTextFileSync(`${tmp}/torch.json`, JSON.stringify(torch, null, 2) + "\n");
          try {
            Deno.renameSync(tmp, dir);
          } catch (e) {
            if (!ready(dir)) throw e; // else another process won the race
          }
        } finally {
          removeQuietly(tmp);
        }
      }
      return `${dir}/${LIBRARY_NAME}`;
    },
    sources: (tmp) => {
      const path = `${tmp}/native.tar.gz`;
      Deno.writeFileSync(path, Deno.readFileSync(EMBEDDED_SOURCES));
      return path;
    },
  };
}

/** `name` as an executable on the PATH (or as a path), if there is one. */
function which(name: string): string | undefined {
  const candidates = name.includes("/")
    ? [name]
    : (Deno.env.get("PATH") ?? "").split(":").filter((p) => p !== "").map((p) => `${p}/${name}`);
  for (const c of candidates) {
    try {
      const s = Deno.statSync(c);
      if (s.isFile && ((s.mode ?? 0o755) & 0o111) !== 0) return c;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** The build tools that are missing, as a user would install them. */
function missingTools(): string[] {
  const missing: string[] = [];
  for (const tool of ["bash", "tar", "cmake"]) if (!which(tool)) missing.push(tool);
  const cxx = Deno.env.get("CXX");
  if (cxx ? !which(cxx.split(" ")[0]) : !["c++", "g++", "clang++"].some((c) => which(c))) {
    missing.push(cxx ? `the C++ compiler CXX=${cxx}` : "a C++ compiler (g++ or clang++)");
  }
  if (!which("make") && !which("ninja")) missing.push("make (or ninja)");
  return missing;
}

function listOf(items: string[]): string {
  return items.length === 1
    ? items[0]
    : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch {
    // already gone
  }
}

/** The last line of a build's output that says what went wrong. */
function failureLine(output: string): string {
  const lines = output.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const error = lines.filter((l) => /error/i.test(l) && !l.startsWith("error: the native build"));
  return (error.at(-1) ?? lines.at(-1) ?? "no output").replace(/^error: /, "");
}

/** Builds the carried sources against `found` into `dir`, once (see the module documentation). */
function build(dir: string, found: TorchBuild, carried: Carried): void {
  const root = cacheRoot();
  Deno.mkdirSync(root, { recursive: true });
  const lock = Deno.openSync(`${dir}.lock`, { create: true, write: true });
  try {
    lock.lockSync(true);
    if (ready(dir)) return; // another process built it while this one waited
    const what = `libtorch ${found.version} (${whereFound(found)})`;
    const missing = missingTools();
    if (missing.length > 0) {
      throw new NativeLibraryError(
        `lade's native library must be built for ${what}, but ${listOf(missing)} ` +
          `${missing.length === 1 ? "is" : "are"} missing: install ${
            missing.length === 1 ? "it" : "them"
          }, or set LADE_NATIVE_LIB to a liblade.so built for this libtorch`,
      );
    }
    notice(`building the native library for ${what} once; this takes a minute or two`);
    const tmp = Deno.makeTempDirSync({ dir: root, prefix: ".native-build-" });
    try {
      const tarball = carried.sources(tmp);
      const untar = new Deno.Command("tar", {
        args: ["-xzf", tarball, "-C", tmp],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).outputSync();
      if (!untar.success) {
        throw new NativeLibraryError(
          `cannot unpack lade's native sources ${tarball}: ${
            failureLine(new TextDecoder().decode(untar.stderr))
          }`,
        );
      }
      const env = Deno.env.toObject();
      delete env.CMAKE_PREFIX_PATH;
      delete env.LADE_TORCH_DIR;
      if (found.source !== "system") env.LADE_TORCH_DIR = found.dir;
      env.LADE_TORCH_SOURCE = found.source;
      env.LADE_WERROR = "0";
      if (!which("make") && !env.CMAKE_GENERATOR) env.CMAKE_GENERATOR = "Ninja";
      const out = new Deno.Command("bash", {
        args: [`${tmp}/scripts/build-native.sh`],
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).outputSync();
      const dec = new TextDecoder();
      const output = dec.decode(out.stdout) + dec.decode(out.stderr);
      const built = `${tmp}/build/native`;
      if (!out.success || !ready(built)) {
        const log = `${dir}.log`;
        Deno.writeTextFileSync(log, output);
        throw new NativeLibraryError(
          `building lade's native library for ${what} failed: ${failureLine(output)} ` +
            `(the build's output is in ${log})`,
        );
      }
      removeQuietly(dir); // a damaged earlier attempt; this process holds the lock
      Deno.renameSync(built, dir);
    } finally {
      removeQuietly(tmp);
    }
  } finally {
    lock.close(); // releases the lock
  }
}

/** The library a single binary uses on this machine. */
function chooseCarried(carried: Carried): NativeLibraryChoice {
  const found = findLibtorch();
  if (!found) {
    // No libtorch to build for: the carried library may still load.
    return {
      path: carried.library(),
      origin: "carried",
      torch: { ...carried.torch, source: "carried" },
    };
  }
  if (sameLibtorch(found, carried.torch)) {
    return {
      path: carried.library(),
      origin: "carried",
      torch: { ...carried.torch, source: found.source },
    };
  }
  const dir = `${cacheRoot()}/native-${carried.torch.lade_sources}-${libtorchId(found)}`;
  if (!ready(dir)) build(dir, found, carried);
  const torch = readTorchJson(`${dir}/torch.json`) ?? found;
  return {
    path: `${dir}/${LIBRARY_NAME}`,
    origin: "built",
    torch: { ...torch, source: found.source },
  };
}

function chooseLibrary(): NativeLibraryChoice {
  const fromEnv = Deno.env.get(LIBRARY_ENV);
  if (fromEnv) {
    return {
      path: fromEnv,
      origin: "LADE_NATIVE_LIB",
      torch: readTorchJson(`${dirname(fromEnv)}/torch.json`),
    };
  }
  const app = Deno.env.get(APP_DIR_ENV);
  if (app) return chooseCarried(appCarried(app));
  if (isCompiled()) return chooseCarried(embeddedCarried());
  return {
    path: pathOf(BUILT_LIBRARY),
    origin: "checkout",
    torch: readTorchJson(pathOf(BUILT_TORCH_JSON)),
  };
}

let chosen: NativeLibraryChoice | undefined;

/**
 * The native library to open, and the libtorch it serves: see the module
 * documentation for the order. Decided once per process; in a single binary
 * this may build the library (a minute or two, announced through
 * {@link onNativeNotice}).
 *
 * @example The library and the libtorch it serves
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativeLibraryChoice } from "./mod.ts";
 *
 * const choice = nativeLibraryChoice();
 * assert.match(choice.path, /liblade\.(so|dylib)$/);
 * ```
 */
export function nativeLibraryChoice(): NativeLibraryChoice {
  return chosen ??= chooseLibrary();
}

/** The path to open (of {@link nativeLibraryChoice}). */
export function resolveLibraryPath(): string {
  return nativeLibraryChoice().path;
}
