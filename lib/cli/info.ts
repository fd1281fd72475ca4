/**
 * `lade info`: versions, devices, threads and the native library in use.
 *
 * @module
 */

import { native, nativeLibraryPath } from "../torch/ffi.ts";
import { type LibraryOrigin, nativeLibraryChoice } from "../torch/library_path.ts";
import type { TorchBuild } from "../torch/libtorch.ts";
import { cString } from "../torch/strings.ts";
import { cudaAvailable, cudaDeviceCount, getNumThreads } from "../torch/device.ts";
import { buildInfo, type CudaDeviceInfo, cudaDeviceInfo } from "../torch/cuda.ts";
import { type AllocatorStatus, allocatorStatus } from "../torch/allocator.ts";
import { defaultThreads } from "../torch/threads.ts";

/** CUDA as this process sees it: the build's support and every GPU. */
function cudaFacts(): Info["cuda"] {
  const build = buildInfo();
  const available = cudaAvailable();
  const devices = available ? cudaDeviceCount() : 0;
  return {
    available,
    devices,
    build: build.cuda,
    ...(build.cuda_archs ? { archs: build.cuda_archs } : {}),
    gpus: Array.from({ length: devices }, (_, i) => cudaDeviceInfo(i)),
  };
}
import { availableBackends } from "../distributed/process_group.ts";
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
  /** Why `threads` (the default: the cores other processes leave free; or OMP_NUM_THREADS). */
  threads_why: string;
  cpus: number;
  /**
   * The memory allocator of this process (glibc, tcmalloc, jemalloc or
   * mimalloc: the library mapped into it), its library, and why it is this
   * one (lade's default, `LADE_ALLOCATOR`, the user's `LD_PRELOAD`, or the
   * default's library missing).
   */
  allocator: AllocatorStatus;
  cuda: {
    available: boolean;
    devices: number;
    /** Whether this build of the native library has the CUDA code (graphs, bf16). */
    build: boolean;
    /** The libtorch's CUDA architectures, when the build knew them. */
    archs?: string;
    /** Each visible GPU: name, compute capability, multiprocessors, memory. */
    gpus: CudaDeviceInfo[];
  };
  /** The process-group backends (gloo, nccl) the native library was built with. */
  distributed: { backends: string[] };
  /**
   * Whether inference on the CPU runs cnn28 and ResNet-32's 32- and
   * 64-channel stages on oneDNN directly (this build found oneDNN's headers;
   * LADE_DNNL=0 turns it off).
   */
  onednn_inference: boolean;
  /**
   * Whether 3x3 convolutions of 16, 32 and 64 channels on the CPU
   * (ResNet-32's stages) run on lade's own Winograd kernel, in inference
   * and (16 and 32 channels) in training, forward and backward by data:
   * this build has it and the CPU AVX-512F; LADE_WINOGRAD=0 turns it off.
   */
  winograd16: boolean;
  /**
   * Whether training runs the 3x3 convolutions of 32 channels and more
   * (cnn28's second and third, ResNet-32's stages 2 and 3) on oneDNN's
   * Winograd kernels, forward and backward, where the CPU has them (AVX-512);
   * LADE_WINOGRAD=0 or LADE_DNNL=0 turns it off. (Where winograd16 is
   * true, lade's own kernel runs those of 16 and 32 channels instead.)
   */
  winograd_training: boolean;
  /**
   * The libtorch the native library was built against (its torch.json):
   * version, root folder, how it was found (`LADE_TORCH_DIR`, `python3`,
   * `system`, or `carried` when a single binary found none and uses its own
   * library), whether it has CUDA; null when unknown (a library without
   * torch.json beside it).
   */
  torch: TorchBuild | null;
  /** The native library's path. */
  native_library: string;
  /** Where it came from: this checkout's build, `LADE_NATIVE_LIB`, a binary's `carried` one or its `built` one. */
  native_library_origin: LibraryOrigin;
}

/** Gathers the facts `info` reports. */
export function gatherInfo(): Info {
  const lib = native();
  const choice = nativeLibraryChoice();
  // oneDNN's own paths: this build has them and LADE_DNNL does not turn them off.
  const onednn = buildInfo().onednn && Deno.env.get("LADE_DNNL") !== "0";
  return {
    lade: VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    libtorch: cString(lib.lade_torch_version()),
    abi: lib.lade_abi_version(),
    threads: getNumThreads(),
    threads_why: defaultThreads().why,
    cpus: navigator.hardwareConcurrency,
    allocator: allocatorStatus(),
    cuda: cudaFacts(),
    distributed: { backends: availableBackends() },
    onednn_inference: onednn,
    winograd16: buildInfo().winograd16 && Deno.env.get("LADE_WINOGRAD") !== "0",
    winograd_training: onednn && Deno.env.get("LADE_WINOGRAD") !== "0",
    torch: choice.torch ?? null,
    native_library: nativeLibraryPath(),
    native_library_origin: choice.origin,
  };
}

/** The libtorch line: "2.11.0+cu130, CUDA 13.0 (python3: /opt/...)". */
function describeTorch(info: Info): string {
  const t = info.torch;
  if (!t) return info.libtorch;
  const cuda = t.cuda ? `CUDA ${t.cuda_version ?? ""}`.trim() : "CPU only";
  return `${info.libtorch}, ${cuda} (${t.source}: ${t.dir})`;
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
    ["libtorch", describeTorch(info)],
    ["threads", `${info.threads} of ${info.cpus} CPUs (${info.threads_why})`],
    [
      "allocator",
      `${info.allocator.name}${
        info.allocator.library ? ` (${info.allocator.library})` : ""
      }: ${info.allocator.why}`,
    ],
    [
      "cuda",
      info.cuda.available
        ? info.cuda.gpus.map((g) => `${g.index}: ${g.name} (sm_${g.capability.join("")})`).join(
          "; ",
        )
        : info.cuda.build
        ? "this build has CUDA, but no GPU is visible"
        : "no (a CPU build of libtorch)",
    ],
    ["distributed", info.distributed.backends.join(", ") || "none"],
    [
      "inference",
      [
        info.onednn_inference
          ? `${
            info.winograd16 ? "cnn28" : "cnn28 and ResNet-32's wider stages"
          } on oneDNN (Winograd; LADE_DNNL=0: libtorch's path)`
          : "",
        info.winograd16
          ? "ResNet-32's 3x3 convolutions on lade's Winograd kernel (LADE_WINOGRAD=0: libtorch's)"
          : "",
      ].filter((s) => s).join("; ") || "libtorch",
    ],
    [
      "training",
      [
        info.winograd_training
          ? "3x3 convolutions of 32+ channels on oneDNN's Winograd kernels where the CPU has them (LADE_WINOGRAD=0: libtorch's)"
          : "",
        info.winograd16 ? "those of 16 and 32 channels on lade's Winograd kernel" : "",
      ].filter((s) => s).join("; ") || "libtorch",
    ],
    ["native library", `${info.native_library} (${info.native_library_origin})`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}
