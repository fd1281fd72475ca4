/**
 * `lade info`: versions, devices, threads and the native library in use.
 *
 * @module
 */

import { native, nativeLibraryPath } from "../torch/ffi.ts";
import { cString } from "../torch/strings.ts";
import { cudaAvailable, cudaDeviceCount, getNumThreads } from "../torch/device.ts";
import { availableBackends } from "../dist/process_group.ts";
import { VERSION } from "../version.ts";

/** What `info --json` prints. */
export interface Info {
  lade: string;
  deno: string;
  v8: string;
  typescript: string;
  libtorch: string;
  abi: number;
  threads: number;
  cpus: number;
  cuda: { available: boolean; devices: number };
  /** The process-group backends (gloo, nccl) the native library was built with. */
  distributed: { backends: string[] };
  nativeLibrary: string;
}

/** Gathers the facts `info` reports. */
export function gatherInfo(): Info {
  const lib = native();
  return {
    lade: VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    libtorch: cString(lib.lade_torch_version()),
    abi: lib.lade_abi_version(),
    threads: getNumThreads(),
    cpus: navigator.hardwareConcurrency,
    cuda: { available: cudaAvailable(), devices: cudaDeviceCount() },
    distributed: { backends: availableBackends() },
    nativeLibrary: nativeLibraryPath(),
  };
}

/** Runs `info`. */
export function infoCommand(options: { json?: boolean }): void {
  const info = gatherInfo();
  if (options.json) {
    console.log(JSON.stringify(info, null, 2));
    return;
  }
  const rows: [string, string][] = [
    ["lade", info.lade],
    ["deno", `${info.deno} (v8 ${info.v8}, typescript ${info.typescript})`],
    ["libtorch", info.libtorch],
    ["threads", `${info.threads} of ${info.cpus} CPUs`],
    ["cuda", info.cuda.available ? `yes, ${info.cuda.devices} device(s)` : "no"],
    ["distributed", info.distributed.backends.join(", ") || "none"],
    ["native library", info.nativeLibrary],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}
