/**
 * `deno task fuzz`: a seeded fuzz harness over every reader of files that
 * lade takes from users (IDX, CIFAR, .npy, image lists, JPEG, PNG, YAML
 * recipes, checkpoint manifests, safetensors and PyTorch weights, model and
 * optimiser archives). It mutates valid files (bit flips, bytes set to
 * boundary values, 32-bit size fields set to extremes, truncation, chunks
 * duplicated, removed or appended) and feeds each mutant to its reader; four
 * structure-aware readers draw their inputs instead (pickle opcode streams,
 * tensor views, safetensors headers, YAML nesting; scripts/
 * fuzz_structured.ts). A
 * mutant must load or fail with the library's error (a LadeError: one line
 * on the command line); anything else is a finding: another exception type,
 * a case over 10 s, a peak resident memory over 1 GiB above the start, or a
 * crash of the process (which ends the run; `--verbose` names the case that
 * was running).
 *
 *   deno task fuzz [--seed N] [--cases N] [--only a,b] [--verbose] [--json]
 *
 * `--cases` is per reader (default 200). The test suite runs a small
 * fixed-seed slice (tests/scripts/fuzz_test.ts).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { LadeError } from "../lib/errors.ts";
import { gunzip } from "../lib/data/files.ts";
import { parseIdx } from "../lib/data/idx.ts";
import { readCifar } from "../lib/data/cifar.ts";
import { escapesRoot, parseImageList, probeImages } from "../lib/data/image_list.ts";
import { readImage, writeImage } from "../lib/data/image_io.ts";
import { encodeNpy, parseNpy } from "../lib/eval/npy.ts";
import { mergeConfig, parseConfigText, validateConfig } from "../lib/config/config.ts";
import { DEFAULT_CONFIG } from "../lib/config/config.ts";
import { MANIFEST, readManifest } from "../lib/run/checkpoint.ts";
import { Model } from "../lib/models/model.ts";
import { SGD } from "../lib/train/optimizer.ts";
import { tensor } from "../lib/torch/create.ts";
import { setNumThreads } from "../lib/torch/device.ts";
import { decodeMetadata, encodeMetadata, modelStateDict } from "../lib/weights/model_weights.ts";
import { unpickle } from "../lib/weights/pickle.ts";
import { randomPickle, randomSafetensors, randomViews, randomYaml } from "./fuzz_structured.ts";
import { parseTorchStateDict } from "../lib/weights/pytorch.ts";
import { encodeSafetensors, parseSafetensors } from "../lib/weights/safetensors.ts";

/**
 * A reader under test: valid seed files (or a generator of structured
 * inputs), and how to read one.
 */
export interface FuzzTarget {
  name: string;
  /** Valid inputs that mutants are made from. */
  seeds: (dir: string) => Promise<Uint8Array[]>;
  /**
   * Draws each case itself instead of mutating a seed: structured inputs
   * (opcode streams, tensor views, headers, nesting) that byte mutations
   * almost never build (scripts/fuzz_structured.ts).
   */
  generate?: (r: () => number) => Uint8Array;
  /** Reads `bytes` (written to `dir` if the reader takes paths). */
  read: (bytes: Uint8Array, dir: string) => Promise<void>;
}

/** A mutant that did not load or fail cleanly. */
export interface Finding {
  target: string;
  case: number;
  kind: "exception" | "slow" | "memory";
  detail: string;
}

/** What a run found, per target. */
export interface FuzzSummary {
  seed: number;
  cases: number;
  /** Per target: mutants that loaded, that were refused with a LadeError. */
  counts: Record<string, { loaded: number; refused: number }>;
  findings: Finding[];
  seconds: number;
}

/** mulberry32: a small seeded generator of floats in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BOUNDARY_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
const BOUNDARY_U32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xffff, 0x10000, 65000];

/** One mutant of `input`: one to four mutations drawn with `r`. */
export function mutate(input: Uint8Array, r: () => number): Uint8Array {
  let b = input.slice();
  const pick = (n: number) => Math.floor(r() * n);
  const rounds = 1 + pick(4);
  for (let k = 0; k < rounds; k++) {
    const at = b.length === 0 ? 0 : pick(b.length);
    switch (pick(7)) {
      case 0: // flip bits
        for (let i = 0, n = 1 + pick(8); i < n && b.length > 0; i++) {
          b[pick(b.length)] ^= 1 << pick(8);
        }
        break;
      case 1: // boundary bytes
        for (let i = 0, n = 1 + pick(4); i < n && b.length > 0; i++) {
          b[pick(b.length)] = BOUNDARY_BYTES[pick(BOUNDARY_BYTES.length)];
        }
        break;
      case 2: { // a 32-bit field (sizes, counts) set to an extreme, near the start more often
        const pos = r() < 0.7 ? pick(Math.min(b.length, 64)) : at;
        if (pos + 4 <= b.length) {
          new DataView(b.buffer).setUint32(pos, BOUNDARY_U32[pick(BOUNDARY_U32.length)], r() < 0.5);
        }
        break;
      }
      case 3: // truncate
        b = b.slice(0, at);
        break;
      case 4: { // duplicate a chunk
        const len = Math.min(b.length - at, 1 + pick(256));
        const out = new Uint8Array(b.length + len);
        out.set(b.subarray(0, at + len));
        out.set(b.subarray(at, at + len), at + len);
        out.set(b.subarray(at + len), at + 2 * len);
        b = out;
        break;
      }
      case 5: { // remove a chunk
        const len = Math.min(b.length - at, 1 + pick(256));
        b = new Uint8Array([...b.subarray(0, at), ...b.subarray(at + len)]);
        break;
      }
      default: { // append random bytes
        const extra = Uint8Array.from({ length: 1 + pick(64) }, () => pick(256));
        b = new Uint8Array([...b, ...extra]);
      }
    }
  }
  return b;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function idx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out[2] = 0x08;
  out[3] = dims.length;
  const v = new DataView(out.buffer);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function imageBytes(dir: string, name: string, channels: number, quality?: number): Uint8Array {
  const w = 24, h = 16;
  const px = Uint8Array.from({ length: channels * w * h }, (_, i) => (i * 37) % 251);
  using img = tensor(px, [channels, h, w]);
  const path = join(dir, name);
  writeImage(img, path, quality);
  return Deno.readFileSync(path);
}

/** A valid manifest for a cnn28 model (digests are not checked by readManifest). */
function manifestBytes(): Uint8Array {
  return enc.encode(JSON.stringify(
    {
      version: 1,
      epoch: 1,
      step: 3,
      running: { loss: 2.5, correct: 10, seen: 48, seconds: 1.5 },
      trainCounts: [30, 10, 3],
      config: DEFAULT_CONFIG,
      arch: "cnn28",
      inChannels: 1,
      classes: 3,
      classNames: ["a", "b", "c"],
      model: "checkpoints/model-e0001-s000003-abc.pt",
      optimizer: "checkpoints/optimizer-e0001-s000003-abc.pt",
      sha256: { model: "0".repeat(64), optimizer: "f".repeat(64) },
      rng: "AAECAwQFBgc=",
      savedAt: "2026-01-01T00:00:00.000Z",
    },
    null,
    1,
  ));
}

/** A model and optimiser whose archives are fuzzed (made once). */
let archiveModel: { model: Model; sgd: SGD } | undefined;
function archives(): { model: Model; sgd: SGD } {
  if (!archiveModel) {
    const model = Model.create({ arch: "cnn28", classes: 3, inChannels: 1 });
    archiveModel = { model, sgd: new SGD(model, { lr: 0.1, momentum: 0.9 }) };
  }
  return archiveModel;
}

/** Every reader lade has for user files. */
export const TARGETS: readonly FuzzTarget[] = [
  {
    name: "idx",
    seeds: async () => {
      const labels = idx([6], Uint8Array.from([0, 1, 2, 3, 4, 5]));
      const images = idx([2, 4, 4], Uint8Array.from({ length: 32 }, (_, i) => i * 7));
      return [labels, images, await gzip(images)];
    },
    read: async (bytes) => {
      parseIdx(await gunzip(bytes, "f-idx3-ubyte.gz"), "f-idx3-ubyte.gz");
    },
  },
  {
    name: "cifar",
    seeds: () => {
      const rec = (label: number) => {
        const r = new Uint8Array(1 + 3072);
        r[0] = label;
        for (let i = 1; i < r.length; i++) r[i] = (i * label + 11) % 256;
        return r;
      };
      return Promise.resolve([new Uint8Array([...rec(3), ...rec(9)])]);
    },
    read: async (bytes, dir) => {
      const path = join(dir, "data_batch_1.bin");
      await Deno.writeFile(path, bytes);
      const d = await readCifar([path], { labelBytes: 1, classes: 10 }, "fuzz");
      d.images.dispose();
    },
  },
  {
    name: "npy",
    seeds: () =>
      Promise.resolve([
        encodeNpy({
          dtype: "float32",
          shape: [3, 4],
          data: Float32Array.from({ length: 12 }, (_, i) => i / 3),
        }),
        encodeNpy({ dtype: "int64", shape: [5], data: BigInt64Array.from([0n, 1n, 2n, 1n, 0n]) }),
      ]),
    read: (bytes) => {
      parseNpy(bytes, "f.npy");
      return Promise.resolve();
    },
  },
  {
    name: "image-list",
    seeds: () =>
      Promise.resolve([
        enc.encode("img/a b.jpg 0\n# comment\nimg/c.png 2\r\n\nimg/d.jpg 1\n"),
      ]),
    read: (bytes) => {
      const list = parseImageList(dec.decode(bytes), "train.txt");
      list.paths.forEach(escapesRoot);
      return Promise.resolve();
    },
  },
  {
    name: "jpeg",
    seeds: (dir) =>
      Promise.resolve([imageBytes(dir, "s.jpg", 3, 90), imageBytes(dir, "g.jpg", 1, 50)]),
    read: async (bytes, dir) => {
      const path = join(dir, "m.jpg");
      await Deno.writeFile(path, bytes);
      probeImages([path], 1);
      readImage(path).dispose();
    },
  },
  {
    name: "png",
    seeds: (dir) => Promise.resolve([imageBytes(dir, "s.png", 3), imageBytes(dir, "g.png", 1)]),
    read: async (bytes, dir) => {
      const path = join(dir, "m.png");
      await Deno.writeFile(path, bytes);
      probeImages([path], 1);
      readImage(path).dispose();
    },
  },
  {
    name: "yaml-config",
    seeds: async () => {
      const dir = new URL("../configs/", import.meta.url);
      const out: Uint8Array[] = [];
      for await (const e of Deno.readDir(dir)) {
        if (e.name.endsWith(".yaml")) out.push(await Deno.readFile(new URL(e.name, dir)));
      }
      return out.sort((a, b) => a.length - b.length).slice(0, 3);
    },
    read: (bytes) => {
      const patch = parseConfigText(dec.decode(bytes), "recipe.yaml");
      validateConfig(mergeConfig(DEFAULT_CONFIG, patch), "recipe.yaml");
      return Promise.resolve();
    },
  },
  {
    name: "manifest",
    seeds: () => Promise.resolve([manifestBytes()]),
    read: async (bytes, dir) => {
      await Deno.writeFile(join(dir, MANIFEST), bytes);
      await readManifest(dir);
    },
  },
  {
    name: "safetensors",
    seeds: () => {
      // A small model's weights as checkpoints and `weights export` write them.
      using model = Model.create({ arch: "cnn28", classes: 2, inChannels: 1 });
      const meta = encodeMetadata({ arch: "cnn28", classes: 2, inChannels: 1, head: "linear" });
      return Promise.resolve([encodeSafetensors(modelStateDict(model), meta)]);
    },
    read: (bytes) => {
      parseSafetensors(bytes, "weights.safetensors");
      return Promise.resolve();
    },
  },
  {
    name: "pytorch-state-dict",
    seeds: async () => {
      const dir = new URL("../tests/weights/fixtures/", import.meta.url);
      return await Promise.all(
        ["tiny.pth", "nested.pth", "whole_module.pth"].map((f) => Deno.readFile(new URL(f, dir))),
      );
    },
    read: (bytes) => {
      parseTorchStateDict(bytes, "weights.pth");
      return Promise.resolve();
    },
  },
  // ---- structured: drawn, not mutated (scripts/fuzz_structured.ts)
  {
    name: "pickle-ops",
    seeds: () => Promise.resolve([]),
    generate: randomPickle,
    read: (bytes) => {
      unpickle(bytes, { source: "ops.pkl" });
      return Promise.resolve();
    },
  },
  {
    name: "tensor-views",
    seeds: () => Promise.resolve([]),
    generate: randomViews,
    read: (bytes) => {
      parseTorchStateDict(bytes, "views.pth");
      return Promise.resolve();
    },
  },
  {
    name: "safetensors-header",
    seeds: () => Promise.resolve([]),
    generate: randomSafetensors,
    read: (bytes) => {
      const file = parseSafetensors(bytes, "header.safetensors");
      decodeMetadata(file.metadata, "header.safetensors");
      return Promise.resolve();
    },
  },
  {
    name: "yaml-depth",
    seeds: () => Promise.resolve([]),
    generate: randomYaml,
    read: (bytes) => {
      const patch = parseConfigText(dec.decode(bytes), "deep.yaml");
      validateConfig(mergeConfig(DEFAULT_CONFIG, patch), "deep.yaml");
      return Promise.resolve();
    },
  },
  {
    name: "model-archive",
    seeds: () => Promise.resolve([archives().model.serialize()]),
    read: (bytes) => {
      archives().model.deserialize(bytes);
      return Promise.resolve();
    },
  },
  {
    name: "optimizer-archive",
    seeds: () => Promise.resolve([archives().sgd.serialize()]),
    read: (bytes) => {
      archives().sgd.deserialize(bytes);
      return Promise.resolve();
    },
  },
];

/** Peak resident memory of this process in bytes (Linux; 0 elsewhere). */
function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs `cases` mutants per target from `seed`; `onCase` before each (for tracing a crash). */
export async function runFuzz(options: {
  seed: number;
  cases: number;
  only?: readonly string[];
  onCase?: (target: string, index: number) => void;
  /** The readers (default TARGETS). */
  targets?: readonly FuzzTarget[];
}): Promise<FuzzSummary> {
  const started = performance.now();
  const dir = await Deno.makeTempDir({ prefix: "lade-fuzz-" });
  const summary: FuzzSummary = {
    seed: options.seed,
    cases: options.cases,
    counts: {},
    findings: [],
    seconds: 0,
  };
  const baseline = peakRss();
  try {
    for (const [t, target] of (options.targets ?? TARGETS).entries()) {
      if (options.only && !options.only.includes(target.name)) continue;
      const seeds = await target.seeds(dir);
      const counts = { loaded: 0, refused: 0 };
      summary.counts[target.name] = counts;
      // Each target has its own stream, so --only reproduces a full run's cases.
      const r = rng(options.seed * 1000 + t);
      for (let i = 0; i < options.cases; i++) {
        const input = target.generate
          ? target.generate(r)
          : mutate(seeds[Math.floor(r() * seeds.length)], r);
        options.onCase?.(target.name, i);
        const begun = performance.now();
        try {
          await target.read(input, dir);
          counts.loaded++;
        } catch (e) {
          if (e instanceof LadeError && e.message.trim() !== "") {
            counts.refused++;
          } else {
            const what = e instanceof Error ? `${e.name}: ${e.message.split("\n")[0]}` : String(e);
            summary.findings.push({
              target: target.name,
              case: i,
              kind: "exception",
              detail: what,
            });
          }
        }
        const seconds = (performance.now() - begun) / 1000;
        if (seconds > 10) {
          summary.findings.push({
            target: target.name,
            case: i,
            kind: "slow",
            detail: `${seconds.toFixed(1)} s`,
          });
        }
        const grown = peakRss() - baseline;
        if (baseline > 0 && grown > 2 ** 30) {
          summary.findings.push({
            target: target.name,
            case: i,
            kind: "memory",
            detail: `peak resident memory grew by ${(grown / 2 ** 20).toFixed(0)} MiB`,
          });
          break; // the peak stays; later cases of this process cannot be judged
        }
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

/** `deno task fuzz --help`. */
export function usage(): string {
  return `deno task fuzz [--seed N] [--cases N] [--only a,b] [--verbose] [--json]

Feeds mutated and generated files to every reader lade has for user files and
reports any that is neither loaded nor refused with lade's one-line error within
10 s and 1 GiB.

  --seed N     the seed of the mutations (default 1)
  --cases N    cases per reader (default 200)
  --only a,b   these readers only: ${TARGETS.map((t) => t.name).join(", ")}
  --verbose    name each case on stderr before it runs (to find a crash)
  --json       print the summary as JSON
  --help       this text`;
}

if (import.meta.main) {
  let args;
  try {
    ({ values: args } = parseArgs({
      args: Deno.args,
      options: {
        seed: { type: "string" },
        cases: { type: "string" },
        only: { type: "string" },
        verbose: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    // An unknown flag or a missing value: one line and the usage, no stack trace.
    console.error(`fuzz: ${(e as Error).message.split("\n")[0]} (see --help)`);
    Deno.exit(2);
  }
  if (args.help) {
    console.log(usage());
    Deno.exit(0);
  }
  const seed = Number(args.seed ?? 1);
  const cases = Number(args.cases ?? 200);
  if (!Number.isSafeInteger(seed) || seed < 0 || !Number.isInteger(cases) || cases < 1) {
    console.error("fuzz: --seed and --cases take non-negative integers (--cases at least 1)");
    Deno.exit(2);
  }
  const only = args.only?.split(",").filter((s) => s !== "");
  const unknown = only?.filter((n) => !TARGETS.some((t) => t.name === n)) ?? [];
  if (unknown.length > 0) {
    console.error(
      `fuzz: unknown reader ${unknown.join(", ")} (${TARGETS.map((t) => t.name).join(", ")})`,
    );
    Deno.exit(2);
  }
  setNumThreads(1);
  const summary = await runFuzz({
    seed,
    cases,
    only,
    onCase: args.verbose ? (t, i) => console.error(`fuzz: ${t} #${i}`) : undefined,
  });
  if (args.json) {
    console.log(JSON.stringify(summary));
  } else {
    for (const [name, c] of Object.entries(summary.counts)) {
      console.log(
        `${name.padEnd(18)} ${String(c.loaded).padStart(6)} loaded ${
          String(c.refused).padStart(6)
        } refused`,
      );
    }
    for (const f of summary.findings) {
      console.log(`FINDING ${f.target} #${f.case} ${f.kind}: ${f.detail}`);
    }
    console.log(
      `seed ${seed}, ${cases} cases a reader, ${summary.findings.length} finding(s), ` +
        `${summary.seconds.toFixed(1)} s`,
    );
  }
  Deno.exit(summary.findings.length > 0 ? 1 : 0);
}
