/**
 * Which libtorch: the one a native library was built against (the
 * `torch.json` that scripts/build-native.sh writes beside it) and the one a
 * machine has.
 *
 * A machine's libtorch, first found:
 * 1. `LADE_TORCH_DIR`: the root folder of a libtorch (an unpacked libtorch
 *    zip, or `torch/` inside a PyTorch wheel);
 * 2. the `torch` package of the `python3` on the PATH, with or without CUDA,
 *    when it ships libtorch's CMake files (a PyTorch wheel or conda package;
 *    Debian's python3-torch ships none and uses the system's libtorch);
 * 3. the system's (Debian's libtorch-dev: `/usr`, or `/usr/local`).
 *
 * scripts/build-native.sh applies the same rules when it builds (except that
 * there python3's torch counts only with CUDA, so that a checkout builds
 * against Debian's libtorch unless told otherwise); keep the two in step.
 *
 * Everything here is synchronous: it runs while the native library is
 * opened, which is synchronous.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { InputError } from "../errors.ts";

/** How a libtorch was found. `carried`: none was found; the binary's own library is used as is. */
export type TorchSource = "LADE_TORCH_DIR" | "CMAKE_PREFIX_PATH" | "python3" | "system" | "carried";

/** A libtorch, as torch.json describes it. */
export interface TorchBuild {
  /** libtorch's version ("2.11.0+cu130", "1.13.0"). */
  version: string;
  /** libtorch's root folder (the real path): the folder holding lib/ and include/. */
  dir: string;
  /** How it was found. */
  source: TorchSource;
  /** Whether it was built with CUDA. */
  cuda: boolean;
  /** Its CUDA version ("13.0"), when known. */
  cuda_version: string | null;
  /** The GPU architectures it was compiled for ("sm_90"), when known. */
  cuda_archs: string[];
  /** In a torch.json: the hash of the native sources the library was built from. */
  lade_sources?: string;
}

const TRIPLET = `${Deno.build.arch}-linux-gnu`;
const SYSTEM_PREFIXES = ["/usr/local", "/usr"];
const SYSTEM_CONFIGS = [
  `lib/${TRIPLET}/cmake/Torch`,
  "lib/cmake/Torch",
  "lib64/cmake/Torch",
  "share/cmake/Torch",
];

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** A `key = 'value'` of torch/version.py (undefined for None or when absent). */
function versionPy(dir: string, key: string): string | undefined {
  const text = readText(`${dir}/version.py`);
  if (text === undefined) return undefined;
  const m = new RegExp(`^${key}[^=\\n]*=\\s*['"]([^'"]*)['"]`, "m").exec(text);
  return m?.[1] || undefined;
}

/** libtorch's version: version.py (a wheel), build-version (a libtorch zip), or version.h. */
export function libtorchVersion(dir: string): string {
  const py = versionPy(dir, "__version__");
  if (py) return py;
  const zip = readText(`${dir}/build-version`)?.split("\n")[0].trim();
  if (zip) return zip;
  const h = readText(`${dir}/include/torch/csrc/api/include/torch/version.h`);
  if (h) {
    const part = (name: string) => new RegExp(`define TORCH_VERSION_${name} (\\d+)`).exec(h)?.[1];
    const parts = [part("MAJOR"), part("MINOR"), part("PATCH")].filter((p) => p !== undefined);
    if (parts.length > 0) return parts.join(".");
  }
  return "unknown";
}

/** The libtorch in `dir`, found by `source`. */
export function describeLibtorch(dir: string, source: TorchSource): TorchBuild {
  const root = Deno.realPathSync(dir);
  const version = libtorchVersion(root);
  let cudaVersion = versionPy(root, "cuda") ?? null;
  let cuda = cudaVersion !== null;
  if (!cuda) {
    cuda = [`${root}/lib`, `${root}/lib/${TRIPLET}`].some((l) =>
      isFile(`${l}/libtorch_cuda.so`) || isFile(`${l}/libc10_cuda.so`)
    );
    const m = /\+cu(\d+)(\d)$/.exec(version);
    if (cuda && m) cudaVersion = `${m[1]}.${m[2]}`;
  }
  return { version, dir: root, source, cuda, cuda_version: cudaVersion, cuda_archs: [] };
}

/** The folder of `python`'s torch package, found without importing it (which takes seconds). */
export function pythonTorchDir(python = "python3"): string | undefined {
  const code = 'import importlib.util as u\ns = u.find_spec("torch")\n' +
    'print(s.submodule_search_locations[0] if s and s.submodule_search_locations else "")';
  try {
    const out = new Deno.Command(python, {
      args: ["-c", code],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const dir = new TextDecoder().decode(out.stdout).trim();
    return out.success && dir !== "" ? dir : undefined;
  } catch {
    return undefined; // no python3
  }
}

/** The system's libtorch prefix (Debian's libtorch-dev: /usr), if one is installed. */
export function systemLibtorchDir(): string | undefined {
  for (const prefix of SYSTEM_PREFIXES) {
    for (const cfg of SYSTEM_CONFIGS) {
      if (isFile(`${prefix}/${cfg}/TorchConfig.cmake`)) return prefix;
    }
  }
  return undefined;
}

/** Where to look: the environment and the python to ask (for tests). */
export interface FindOptions {
  /** Reads an environment variable (default: `Deno.env.get`). */
  env?: (name: string) => string | undefined;
  /** The python to ask for its torch package (default: `python3` on the PATH). */
  python?: string;
}

/**
 * The machine's libtorch (see the module documentation for the order), or
 * undefined. Throws an `InputError` when `LADE_TORCH_DIR` is not a folder.
 */
export function findLibtorch(options: FindOptions = {}): TorchBuild | undefined {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const fromEnv = env("LADE_TORCH_DIR");
  if (fromEnv) {
    if (!isDirectory(fromEnv)) throw new InputError("LADE_TORCH_DIR", `${fromEnv} is not a folder`);
    return describeLibtorch(fromEnv, "LADE_TORCH_DIR");
  }
  const py = pythonTorchDir(options.python);
  if (py && isFile(`${py}/share/cmake/Torch/TorchConfig.cmake`)) {
    return describeLibtorch(py, "python3");
  }
  const system = systemLibtorchDir();
  return system ? describeLibtorch(system, "system") : undefined;
}

/** Whether a library built against `built` serves `found`: the same version in the same folder. */
export function sameLibtorch(found: TorchBuild, built: TorchBuild): boolean {
  return found.version === built.version && found.dir === built.dir;
}

/** A short, file-name-safe id of a libtorch (its version and folder). */
export function libtorchId(torch: TorchBuild): string {
  return createHash("sha256").update(`${torch.version}\n${torch.dir}`).digest("hex").slice(0, 16);
}

/** How a libtorch was found, for a message: "python3's torch at /opt/...". */
export function whereFound(torch: TorchBuild): string {
  switch (torch.source) {
    case "LADE_TORCH_DIR":
      return `LADE_TORCH_DIR=${torch.dir}`;
    case "python3":
      return `python3's torch at ${torch.dir}`;
    case "system":
      return `the system's, in ${torch.dir}`;
    default:
      return `${torch.source} ${torch.dir}`;
  }
}

/** Reads a torch.json; undefined when there is none or it is not one. */
export function readTorchJson(path: string): TorchBuild | undefined {
  const text = readText(path);
  if (text === undefined) return undefined;
  try {
    const j = JSON.parse(text);
    return typeof j?.version === "string" && typeof j?.dir === "string"
      ? j as TorchBuild
      : undefined;
  } catch {
    return undefined;
  }
}
