/**
 * Image lists as ImageNet-LT, Places-LT and iNaturalist 2018 ship them: a
 * text file of `relative/path label` lines, the paths relative to an image
 * root. Headers are probed on native threads when a list is loaded, so a
 * missing or unreadable image fails at once (or is skipped on request).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { checkStatus } from "../torch/errors.ts";
import { native } from "../torch/ffi.ts";
import { cString, toCStringList } from "../torch/strings.ts";
import { readDataFile } from "./files.ts";

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
  return parseImageList(new TextDecoder().decode(bytes), listPath);
}

/** Header facts of each image, or null for an unreadable one. */
export interface ProbeResult {
  sizes: ({ width: number; height: number; channels: number } | null)[];
  /** How many were unreadable. */
  bad: number;
  /** Why the first unreadable one failed. */
  firstError: string;
}

/** Reads the JPEG/PNG headers of `paths` on native threads. */
export function probeImages(paths: readonly string[], threads: number): ProbeResult {
  const out = new Int32Array(paths.length * 3);
  const encoded = toCStringList(paths);
  const bad = native().lade_image_probe(
    encoded,
    BigInt(encoded.length),
    paths.length,
    Math.max(1, threads),
    out,
  );
  if (bad < 0) checkStatus(-1, "probing images");
  const sizes = paths.map((_, i) =>
    out[3 * i] > 0 ? { width: out[3 * i], height: out[3 * i + 1], channels: out[3 * i + 2] } : null
  );
  return { sizes, bad, firstError: bad > 0 ? cString(native().lade_last_error()) : "" };
}
