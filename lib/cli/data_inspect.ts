/**
 * `lade data inspect`: per-class training and test counts after the
 * long-tail construction (and an optional target shift), and the shot groups.
 *
 * @module
 */

import { plural } from "../plural.ts";
import { printWarning, UsageError } from "./errors.ts";
import { loadDataset } from "../data/datasets.ts";
import type { ImbalanceType } from "../data/long_tail.ts";
import { parseShift, shiftIndices } from "../data/shift.ts";
import { type ShotGroups, shotGroups } from "../data/shots.ts";

/** The command's flags as commander hands them over. */
export interface InspectOptions {
  dataset: string;
  root?: string;
  imbalance?: string;
  imbalanceType?: string;
  seed?: string;
  shift?: string;
  trainList?: string;
  testList?: string;
  imageRoot?: string;
  imageSize?: string;
  skipBadImages?: boolean;
  classes?: string;
  allowOutsideRoot?: boolean;
  maxImagePixels?: string;
  json?: boolean;
}

/** What `data inspect --json` prints. */
export interface InspectReport {
  dataset: string;
  classes: number;
  /** A name per class (snake_case, as every --json key). */
  class_names: string[];
  imbalance: { ratio: number; type: ImbalanceType };
  seed: number;
  train: { counts: number[]; total: number };
  test: { counts: number[]; total: number; shift: string };
  shots: ShotGroups;
}

function parseNumber(text: string | undefined, flag: string, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new UsageError(`${flag} expects ${integer ? "an integer" : "a number"}, got '${text}'`);
  }
  return value;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Loads the dataset and gathers the counts `data inspect` reports. */
export async function inspectDataset(options: InspectOptions): Promise<InspectReport> {
  const type = options.imbalanceType;
  if (type !== undefined && type !== "exp" && type !== "step") {
    throw new UsageError(`--imbalance-type must be exp or step, got '${type}'`);
  }
  const seed = parseNumber(options.seed, "--seed", true) ?? 0;
  const shift = parseShift(options.shift ?? "uniform");
  const splits = await loadDataset({
    dataset: options.dataset,
    root: options.root,
    imbalance: parseNumber(options.imbalance, "--imbalance", false),
    imbalanceType: type,
    seed,
    trainList: options.trainList,
    testList: options.testList,
    imageRoot: options.imageRoot,
    imageSize: parseNumber(options.imageSize, "--image-size", true),
    skipBadImages: options.skipBadImages,
    classes: parseNumber(options.classes, "--classes", true),
    allowOutsideRoot: options.allowOutsideRoot,
    maxImagePixels: parseNumber(options.maxImagePixels, "--max-image-pixels", true),
    onWarning: printWarning,
  });
  try {
    let testCounts = splits.testCounts;
    if (shift.kind !== "uniform") {
      const picked = shiftIndices(splits.test.labels, splits.trainCounts, shift);
      testCounts = new Array<number>(splits.classes).fill(0);
      for (const i of picked) testCounts[splits.test.labels[i]]++;
    }
    return {
      dataset: splits.name,
      classes: splits.classes,
      class_names: splits.classNames,
      imbalance: splits.imbalance,
      seed,
      train: { counts: splits.trainCounts, total: sum(splits.trainCounts) },
      test: { counts: testCounts, total: sum(testCounts), shift: shift.name },
      shots: shotGroups(splits.trainCounts),
    };
  } finally {
    splits.dispose();
  }
}

/** Lists class indices compactly: 0-3, 7, 9. */
function ranges(classes: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < classes.length; i++) {
    let j = i;
    while (j + 1 < classes.length && classes[j + 1] === classes[j] + 1) j++;
    parts.push(j > i ? `${classes[i]}-${classes[j]}` : `${classes[i]}`);
    i = j;
  }
  return parts.length > 0 ? parts.join(", ") : "none";
}

/** Formats the report as a table. */
export function formatReport(r: InspectReport): string {
  const shotOf = (c: number) =>
    r.shots.many.includes(c) ? "many" : r.shots.medium.includes(c) ? "medium" : "few";
  const nameWidth = Math.max(4, ...r.class_names.map((n) => n.length));
  const head = `${"class".padStart(5)}  ${"name".padEnd(nameWidth)}  ${"train".padStart(7)}  ${
    "test".padStart(7)
  }  shot`;
  const lines = [
    `${r.dataset}: ${r.classes} classes, imbalance ${r.imbalance.ratio} (${r.imbalance.type}), ` +
    `seed ${r.seed}, test ${r.test.shift}`,
    head,
  ];
  for (let c = 0; c < r.classes; c++) {
    lines.push(
      `${String(c).padStart(5)}  ${r.class_names[c].padEnd(nameWidth)}  ${
        String(r.train.counts[c]).padStart(7)
      }  ${String(r.test.counts[c]).padStart(7)}  ${shotOf(c)}`,
    );
  }
  lines.push(
    `${"total".padStart(5)}  ${"".padEnd(nameWidth)}  ${String(r.train.total).padStart(7)}  ${
      String(r.test.total).padStart(7)
    }`,
  );
  lines.push(
    `many (> 100):    ${plural(r.shots.many.length, "class", "classes")}: ${ranges(r.shots.many)}`,
  );
  lines.push(
    `medium (20-100): ${plural(r.shots.medium.length, "class", "classes")}: ${
      ranges(r.shots.medium)
    }`,
  );
  lines.push(
    `few (< 20):      ${plural(r.shots.few.length, "class", "classes")}: ${ranges(r.shots.few)}`,
  );
  if (r.dataset.startsWith("image-list") || r.dataset.startsWith("image-folder")) {
    lines.push(
      "images: headers checked only (size, format); `lade data verify` decodes every image",
    );
  }
  return lines.join("\n");
}

/** Runs `data inspect`. */
export async function dataInspectCommand(options: InspectOptions): Promise<void> {
  const report = await inspectDataset(options);
  console.log(options.json ? JSON.stringify(report) : formatReport(report));
}
