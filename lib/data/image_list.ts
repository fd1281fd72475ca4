/**
 * Image lists as ImageNet-LT, Places-LT and iNaturalist 2018 ship them: a
 * text file of `relative/path label` lines, the paths relative to an image
 * root. Headers are probed on native threads when a list is loaded, so a
 * missing or unreadable image fails at once (or is skipped on request).
 *
 * @module
 */

import { normalize } from "node:path";
import { InputError } from "../errors.ts";
import { checkPtr, checkStatus } from "../torch/errors.ts";
import { native } from "../torch/ffi.ts";
import { cString, toCStringList } from "../torch/strings.ts";
import { Tensor } from "../torch/tensor.ts";
import { readDataFile } from "./files.ts";
import { decodeNames } from "../torch/strings.ts";
import { checkMaxPixels, DEFAULT_MAX_IMAGE_PIXELS, imageErrorMessage } from "./image_io.ts";

/** Parsed lines of an image list. */
export interface ImageList {
  /** Paths as written in the list. */
  paths: string[];
  /** The label of each line. */
  labels: Int32Array;
  /** 1-based line number of each entry (for messages). */
  lines: number[];
}

/**
 * Parses `relative/path label` lines (the label is the last field, so paths
 * may hold spaces); blank lines and lines starting with # are skipped.
 */
export function parseImageList(text: string, listPath: string): ImageList {
  const paths: string[] = [];
  const labels: number[] = [];
  const lines: number[] = [];
  const rows = text.split(/\r?\n/);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i].trim();
    if (row === "" || row.startsWith("#")) continue;
    const m = /^(.*\S)\s+(-?\d+)$/.exec(row);
    if (!m) {
      throw new InputError(
        `${listPath}:${i + 1}: expected 'relative/path label', got '${row.slice(0, 80)}'`,
      );
    }
    const label = Number(m[2]);
    if (label < 0 || !Number.isSafeInteger(label) || label > 2 ** 31 - 1) {
      throw new InputError(`${listPath}:${i + 1}: label ${m[2]} outside the class range`);
    }
    paths.push(m[1]);
    labels.push(label);
    lines.push(i + 1);
  }
  if (paths.length === 0) throw new InputError(`${listPath}: the image list is empty`);
  return { paths, labels: Int32Array.from(labels), lines };
}

/** Reads and parses an image list file. */
export async function readImageList(listPath: string, source: string): Promise<ImageList> {
  const bytes = await readDataFile(listPath, source);
  // Names that are not UTF-8 are kept byte for byte (lib/torch/strings.ts).
  return parseImageList(decodeNames(bytes), listPath);
}

/** One split of an image dataset: where it was read from, its entries, each entry's file path. */
export interface ImageFileGroup {
  /** The list file (or, for an image folder, the split's folder). */
  listPath: string;
  /** The parsed entries (an image folder's "lines" are 1-based positions). */
  list: ImageList;
  /** Each entry's file path, resolved against the image root. */
  files: string[];
  /** True when the split is a folder of class folders, not a list file. */
  folder?: boolean;
}

/** An image dataset's splits, checked, with its files' paths resolved. */
export interface ImageListFiles {
  /** The training split. */
  train: ImageFileGroup;
  /** The test (or validation) split. */
  test: ImageFileGroup;
  /** The validation list (`valList`), if any. */
  val?: ImageFileGroup;
  /** The number of classes. */
  classes: number;
  /** Class names, where the data names its classes (an image folder's folder names). */
  classNames?: string[];
}

/** Header facts of each image, or null for an unreadable one. */
export interface ProbeResult {
  sizes: ({ width: number; height: number; channels: number } | null)[];
  /** How many were unreadable. */
  bad: number;
  /** Why the first unreadable one failed. */
  firstError: string;
}

/** Native threads a probe or a verification uses at most. */
const MAX_THREADS = 256;

/**
 * Reads the JPEG/PNG headers of `paths` on native threads (headers only: the
 * image data is not read). A header claiming more than `maxPixels` pixels
 * counts as unreadable.
 */
export function probeImages(
  paths: readonly string[],
  threads: number,
  maxPixels: number = DEFAULT_MAX_IMAGE_PIXELS,
): ProbeResult {
  checkMaxPixels(maxPixels);
  const out = new Int32Array(paths.length * 3);
  const encoded = toCStringList(paths);
  const bad = native().lade_image_probe(
    encoded,
    BigInt(encoded.length),
    paths.length,
    Math.min(MAX_THREADS, Math.max(1, threads)),
    BigInt(maxPixels),
    out,
  );
  if (bad < 0) checkStatus(-1, "probing images");
  const sizes = paths.map((_, i) =>
    out[3 * i] > 0 ? { width: out[3 * i], height: out[3 * i + 1], channels: out[3 * i + 2] } : null
  );
  const firstError = bad > 0 ? imageErrorMessage(cString(native().lade_last_error())) : "";
  return { sizes, bad, firstError };
}

/** Why each image does not decode: null for one that does. */
export type VerifyResult = (string | null)[];

/**
 * Decodes every image of `paths` as training would (the pixel limit and
 * corrupt JPEG data included) on native threads, off the JavaScript thread,
 * `chunk` images a call; `onProgress(done, total)` after each chunk. Returns
 * per image null (it decodes) or the reason it does not.
 */
export async function verifyImages(
  paths: readonly string[],
  options: {
    threads?: number;
    maxPixels?: number;
    chunk?: number;
    onProgress?: (done: number, total: number) => void;
  } = {},
): Promise<VerifyResult> {
  const maxPixels = checkMaxPixels(options.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS);
  const threads = Math.min(MAX_THREADS, Math.max(1, options.threads ?? 1));
  const chunk = Math.max(1, options.chunk ?? threads * 16);
  const out: VerifyResult = [];
  for (let start = 0; start < paths.length; start += chunk) {
    const part = paths.slice(start, start + chunk);
    const encoded = toCStringList(part);
    const ptr = await native().lade_image_verify(
      encoded,
      BigInt(encoded.length),
      part.length,
      threads,
      BigInt(maxPixels),
    );
    using messages = new Tensor(checkPtr(ptr, "verifying images"));
    const text = new TextDecoder().decode(messages.toArray() as Uint8Array);
    const lines = text.split("\0").slice(0, part.length);
    for (const line of lines) out.push(line === "" ? null : imageErrorMessage(line));
    options.onProgress?.(Math.min(paths.length, start + part.length), paths.length);
  }
  if (paths.length === 0) options.onProgress?.(0, 0);
  return out;
}

/**
 * Whether a relative path of an image list leaves the folder it is relative
 * to (`../x`, `a/../../x`). Absolute paths are not relative to anything.
 */
export function escapesRoot(path: string): boolean {
  if (path.startsWith("/")) return false;
  const n = normalize(path);
  return n === ".." || n.startsWith("../");
}
