/**
 * `lade data verify`: decodes every image of a dataset, as training would
 * (the pixel limit and corrupt JPEG data included), with a progress line on
 * a terminal and a summary: each unreadable image with its list line and
 * why. `data inspect` reads image headers only; this is the full check.
 * IDX and CIFAR files hold raw pixels: loading them reads and checks every
 * byte, which is what this does for them.
 *
 * @module
 */

import { UsageError } from "./errors.ts";
import { imageFiles, isImageFileDataset, loadDataset, parseDatasetName } from "../data/datasets.ts";
import { verifyImages } from "../data/image_list.ts";

/** The command's flags as commander hands them over. */
export interface VerifyOptions {
  dataset: string;
  root?: string;
  trainList?: string;
  testList?: string;
  imageRoot?: string;
  classes?: string;
  allowOutsideRoot?: boolean;
  maxImagePixels?: string;
  json?: boolean;
}

/** An image that does not decode. */
export interface BadImage {
  /** The list that names it (for an image folder, its split folder). */
  list: string;
  /** The list's line naming it (absent for an image folder). */
  line?: number;
  path: string;
  error: string;
}

/** What `data verify --json` prints. */
export interface VerifyReport {
  dataset: string;
  images: number;
  readable: number;
  unreadable: BadImage[];
  /** "decoded" (image lists) or "read" (IDX and CIFAR: raw pixels). */
  check: "decoded" | "read";
}

function int(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n)) {
    throw new UsageError(`${flag} expects an integer, got '${text}'`);
  }
  return n;
}

/** Verifies the dataset; `onProgress(done, total)` while image lists are decoded. */
export async function verifyDataset(
  o: VerifyOptions,
  onProgress?: (done: number, total: number) => void,
): Promise<VerifyReport> {
  const maxImagePixels = int(o.maxImagePixels, "--max-image-pixels");
  if (!isImageFileDataset(parseDatasetName(o.dataset).base)) {
    const splits = await loadDataset({ dataset: o.dataset, root: o.root, imbalance: 1 });
    const images = splits.train.size + splits.test.size;
    splits.dispose();
    return { dataset: o.dataset, images, readable: images, unreadable: [], check: "read" };
  }
  const files = await imageFiles({
    dataset: o.dataset,
    root: o.root,
    trainList: o.trainList,
    testList: o.testList,
    imageRoot: o.imageRoot,
    classes: int(o.classes, "--classes"),
    allowOutsideRoot: o.allowOutsideRoot,
  });
  const parts = [files.train, files.test, ...(files.val ? [files.val] : [])];
  const all = parts.flatMap((p) => p.files);
  const verdicts = await verifyImages(all, {
    threads: navigator.hardwareConcurrency,
    maxPixels: maxImagePixels,
    onProgress,
  });
  const unreadable: BadImage[] = [];
  let i = 0;
  for (const part of parts) {
    part.files.forEach((path, k) => {
      const error = verdicts[i++];
      if (error !== null) {
        unreadable.push({
          list: part.listPath,
          ...(part.folder ? {} : { line: part.list.lines[k] }),
          path,
          error,
        });
      }
    });
  }
  return {
    dataset: o.dataset,
    images: all.length,
    readable: all.length - unreadable.length,
    unreadable,
    check: "decoded",
  };
}

/** The most unreadable images the text summary lists one by one. */
const LISTED = 20;

/** Runs `data verify`: a summary, and a one-line error (exit 2) when an image is unreadable. */
export async function dataVerifyCommand(o: VerifyOptions): Promise<void> {
  const tty = !o.json && Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  let last = 0;
  const report = await verifyDataset(o, (done, total) => {
    const now = performance.now();
    if (!tty || (now - last < 100 && done < total)) return;
    last = now;
    Deno.stderr.writeSync(enc.encode(`\rdecoding images: ${done}/${total}`));
  });
  if (tty && report.check === "decoded") Deno.stderr.writeSync(enc.encode("\n"));
  if (o.json) {
    console.log(JSON.stringify(report));
  } else {
    for (const b of report.unreadable.slice(0, LISTED)) {
      // An image folder's error names the file already; a list's says which line.
      console.log(b.line === undefined ? b.error : `${b.list}:${b.line}: ${b.error}`);
    }
    if (report.unreadable.length > LISTED) {
      console.log(`... and ${report.unreadable.length - LISTED} more`);
    }
    console.log(
      `${report.dataset}: ${report.images} images ${report.check}, ${report.readable} readable, ` +
        `${report.unreadable.length} unreadable`,
    );
  }
  if (report.unreadable.length > 0) {
    throw new UsageError(
      `${report.unreadable.length} of ${report.images} images cannot be decoded; fix or remove ` +
        "them, or train with --skip-bad-images to leave them out",
    );
  }
}
