/**
 * How the command line's tables show the shot-group accuracies: they are the
 * mean of the per-class accuracies of each group's classes (every class
 * counts once, as the paper's code reports them), while the overall top-1 is
 * over samples, and the headers say so; a group without a figure says why
 * ("n/a (no class with < 20 training images)") instead of a bare dash.
 *
 * @module
 */

import { shotGroups } from "../data/shots.ts";

/** The shot groups, in table order. */
export const SHOT_GROUPS = ["many", "medium", "few"] as const;

/** A shot group's name. */
export type ShotGroup = typeof SHOT_GROUPS[number];

/** The training counts each group holds, in words. */
const RANGES: Readonly<Record<ShotGroup, string>> = {
  many: "> 100",
  medium: "20 to 100",
  few: "< 20",
};

/** The note under a table with shot groups. */
export const SHOT_NOTE = "many/medium/few (> 100, 20 to 100, < 20 training images): the mean " +
  "of their classes' accuracies, each class counting once; top-1 counts samples";

/**
 * Why a group has no figure: no class of the run has its training counts, or
 * (on a shifted set) none of its classes has a test sample there.
 */
export function notApplicable(group: ShotGroup, trainCounts?: readonly number[]): string {
  const empty = trainCounts === undefined || shotGroups(trainCounts)[group].length === 0;
  return empty
    ? `n/a (no class with ${RANGES[group]} training images)`
    : `n/a (no test sample of its classes in this set)`;
}

/**
 * Lines that explain the n/a cells of a row of group figures (`null` for no
 * figure): "few: n/a (no class with < 20 training images)".
 */
export function notApplicableLines(
  figures: Record<ShotGroup, number | null>,
  trainCounts?: readonly number[],
): string[] {
  return SHOT_GROUPS.filter((g) => figures[g] === null).map((g) =>
    `${g}: ${notApplicable(g, trainCounts)}`
  );
}
