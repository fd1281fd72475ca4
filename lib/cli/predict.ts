/**
 * `lade predict --run DIR | --weights FILE [--arch A] [--classes C] INPUTS...
 * [--list FILE] [--npy FILE] [--topk K] [--prior uniform|train|FILE.json|em]
 * [--json]`: the top-k classes of each input image (or each row of an .npy
 * batch) with their probabilities under a target prior (see
 * lib/predict/inputs.ts).
 *
 * @module
 */

import { dirname, isAbsolute, join } from "node:path";
import { InputError } from "../errors.ts";
import { folderEntries } from "../data/files.ts";
import { readNpy, writeNpy } from "../eval/npy.ts";
import { checkDevice, type Device } from "../torch/device.ts";
import { type Tensor, tensor } from "../torch/mod.ts";
import {
  applyPrior,
  predictBatch,
  predictImages,
  type Predictor,
  type PriorChoice,
  runPredictor,
  weightsPredictor,
} from "../predict/inputs.ts";
import { printable, printWarning, UsageError } from "./errors.ts";
import { checkpointOf } from "./inputs.ts";
import { MAX_TEXT_BYTES, readInputFile, readInputJson } from "../input_file.ts";
import { decodeNames } from "../torch/strings.ts";
import { checkOutputFile } from "./outputs.ts";
import { readTrainCounts } from "./inputs.ts";
import { plural } from "../plural.ts";

/** `predict` flags, as commander hands them over. */
export interface PredictOptions {
  run?: string;
  /** With --run: last (default) or best. */
  checkpoint?: string;
  weights?: string;
  arch?: string;
  classes?: string;
  list?: string;
  npy?: string;
  topk?: string;
  prior?: string;
  json?: boolean;
  device?: string;
  skipBadImages?: boolean;
  saveLogits?: string;
  /** Replace an existing --save-logits file (never one a run manages). */
  force?: boolean;
  /** A folder whose images (JPEG, PNG; in its subfolders too) are the inputs. */
  dir?: string;
  /** Training class counts for weights that do not carry them (.npy or a JSON array). */
  trainCounts?: string;
}

/** The image files `predict --dir` takes, by extension. */
const IMAGE_EXTENSIONS = /\.(jpe?g|png)$/i;

/**
 * The images in `dir` and its subfolders (an ImageFolder's class folders),
 * in name order; hidden files and folders are left out.
 */
export async function imagesInFolder(dir: string): Promise<string[]> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new UsageError(`--dir ${dir}: no such folder`);
    throw new UsageError(`--dir ${dir}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!info.isDirectory) throw new UsageError(`--dir ${dir}: not a folder`);
  const out: string[] = [];
  const walk = async (folder: string) => {
    const entries = (await folderEntries(folder))
      .filter((e) => !e.name.startsWith("."))
      .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    for (const e of entries) {
      const path = join(folder, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.isFile && IMAGE_EXTENSIONS.test(e.name)) out.push(path);
    }
  };
  await walk(dir);
  if (out.length === 0) throw new UsageError(`--dir ${dir}: no JPEG or PNG images in it`);
  return out;
}

/** Refuses a folder among the image inputs, pointing at --dir. */
async function checkNotFolders(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    const info = await Deno.stat(path).catch(() => null);
    if (info?.isDirectory) {
      throw new UsageError(`${path} is a folder; give image files or use --dir ${path}`);
    }
  }
}

/** The estimated prior in one line: every class for a few, the largest ten for many. */
export function priorLine(prior: readonly number[], names: readonly string[]): string {
  const order = prior.map((p, c) => [p, c] as const);
  const shown = prior.length <= 20 ? order : [...order].sort((a, b) => b[0] - a[0]).slice(0, 10);
  const parts = shown.map(([p, c]) => `${names[c] ?? c} ${p.toFixed(3)}`);
  return parts.join(", ") +
    (shown.length < prior.length ? `, ... (the 10 largest of ${prior.length})` : "");
}

function positiveInt(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`invalid ${flag} '${text}': expected a positive integer`);
  }
  return n;
}

/** `--prior`: a name, or a JSON file with one number per class. */
async function parsePrior(text: string | undefined, known: boolean): Promise<PriorChoice> {
  if (text === undefined) return known ? "uniform" : "train";
  if (text === "uniform" || text === "train" || text === "em") return text;
  if (!text.endsWith(".json")) {
    throw new UsageError(`invalid --prior '${text}': use uniform, train, em or a FILE.json`);
  }
  const value = await readInputJson(text, { maxBytes: MAX_TEXT_BYTES, what: "--prior file" });
  const list = Array.isArray(value)
    ? value
    : (value as { prior?: unknown })?.prior ?? (value as { target_prior?: unknown })?.target_prior;
  if (!Array.isArray(list) || !list.every((v) => typeof v === "number")) {
    throw new InputError(`--prior ${text}: expected a JSON array of numbers (one per class)`);
  }
  return list as number[];
}

/** Image paths of a list file: the first field of each line, relative to the list's folder. */
async function readList(path: string): Promise<string[]> {
  // Names that are not UTF-8 are kept byte for byte (lib/torch/strings.ts).
  const text = decodeNames(await readInputFile(path, { maxBytes: MAX_TEXT_BYTES, what: "--list" }));
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(/\s+/)[0])
    .map((p) => (isAbsolute(p) ? p : join(dirname(path), p)));
}

/** The model the flags name. */
async function predictor(o: PredictOptions, device: Device): Promise<Predictor> {
  if ((o.run === undefined) === (o.weights === undefined)) {
    throw new UsageError("predict needs exactly one of --run DIR and --weights FILE");
  }
  if (o.run !== undefined) {
    if (o.arch !== undefined || o.classes !== undefined) {
      throw new UsageError("--arch and --classes go with --weights, not --run");
    }
    return await runPredictor(o.run, device, checkpointOf(o));
  }
  if (o.checkpoint !== undefined) throw new UsageError("--checkpoint goes with --run");
  return await weightsPredictor(o.weights!, {
    arch: o.arch,
    classes: o.classes === undefined ? undefined : positiveInt("--classes", o.classes, 1),
    device,
  });
}

/** Runs `predict`. */
export async function predictCommand(inputs: string[], o: PredictOptions): Promise<void> {
  const topk = positiveInt("--topk", o.topk, 5);
  await checkNotFolders(inputs);
  const paths = [
    ...inputs,
    ...(o.list !== undefined ? await readList(o.list) : []),
    ...(o.dir !== undefined ? await imagesInFolder(o.dir) : []),
  ];
  if (paths.length === 0 && o.npy === undefined) {
    throw new UsageError("predict needs inputs: image files, --dir DIR, --list FILE or --npy FILE");
  }
  if (o.trainCounts !== undefined && o.run !== undefined) {
    throw new UsageError("--train-counts goes with --weights: a run knows its training counts");
  }
  if (paths.length > 0 && o.npy !== undefined) {
    throw new UsageError("give either image files (or --list) or --npy, not both");
  }
  if (o.saveLogits !== undefined) {
    await checkOutputFile(o.saveLogits, { flag: "--save-logits", force: o.force });
  }
  const device = o.device === undefined ? "cpu" : checkDevice(o.device);
  const counts = o.trainCounts === undefined ? undefined : await readTrainCounts(o.trainCounts);
  const p = await predictor(o, device);
  try {
    if (counts !== undefined) {
      // Foreign weights: the counts make every prior rule possible.
      if (counts.length !== p.model.classes) {
        throw new UsageError(
          `--train-counts ${o.trainCounts}: ${counts.length} counts for a model of ` +
            `${p.model.classes} classes`,
        );
      }
      p.trainCounts = counts;
      p.logitPrior = undefined;
    }
    const prior = await parsePrior(o.prior, p.trainCounts !== undefined);
    let names: string[];
    let skipped: { path: string; error: string }[] = [];
    let logits: Tensor;
    if (o.npy !== undefined) {
      const array = await readNpy(o.npy);
      const data = array.dtype === "float64"
        ? Float32Array.from(array.data as Float64Array)
        : array.data;
      // NaN or infinite inputs give NaN probabilities ("NaN%" before).
      if (data instanceof Float32Array || data instanceof Float64Array) {
        let bad = 0;
        for (const v of data as ArrayLike<number> & Iterable<number>) {
          if (!Number.isFinite(v)) bad++;
        }
        if (bad > 0) {
          throw new UsageError(`--npy ${o.npy}: holds ${bad} NaN or infinite value(s)`);
        }
      }
      using batch = tensor(data, array.shape, array.dtype === "float64" ? "float32" : array.dtype);
      logits = predictBatch(p, batch);
      names = Array.from({ length: array.shape[0] }, (_, i) => `${o.npy}[${i}]`);
    } else {
      const read = predictImages(p, paths, { skipBad: o.skipBadImages === true });
      skipped = read.skipped;
      for (const s of skipped) printWarning(`skipped ${s.error}`);
      logits = read.logits;
      names = read.paths;
    }
    try {
      if (o.saveLogits !== undefined) {
        await writeNpy(o.saveLogits, {
          dtype: "float32",
          shape: [...logits.shape],
          data: logits.toArray(),
        });
      }
      const result = applyPrior(p, logits, prior, topk, o.prior);
      const rows = result.predictions.map((pred, i) => ({
        input: names[i],
        top: pred.classes.map((c, j) => ({
          class: c,
          name: p.classNames[c] ?? String(c),
          prob: pred.probs[j],
        })),
      }));
      if (o.json) {
        console.log(JSON.stringify({
          prior: Array.isArray(prior) ? o.prior : prior,
          rule: result.rule,
          ...(result.targetPrior ? { target_prior: result.targetPrior } : {}),
          predictions: rows,
          skipped: skipped.map((s) => ({ input: s.path, error: s.error })),
        }));
        return;
      }
      if (prior === "em" && result.targetPrior !== undefined) {
        console.log(
          `target prior estimated by EM from ${plural(rows.length, "input")}: ` +
            printable(priorLine(result.targetPrior, p.classNames)),
        );
      }
      for (const r of rows) {
        // Class names come from the run or the weights file: no control characters.
        console.log(printable(
          `${r.input}\t${r.top.map((t) => `${t.name} ${(100 * t.prob).toFixed(1)}%`).join("  ")}`,
        ));
      }
    } finally {
      logits.dispose();
    }
  } finally {
    p.dispose();
  }
}
