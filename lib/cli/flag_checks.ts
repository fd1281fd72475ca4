/**
 * Checks of the command line as a whole, made before a command runs (and so
 * before anything is written): a flag given an empty value (`--out ""`
 * would write into `/`, `--report ""` into the current folder) and flags
 * that contradict each other (`--report DIR --no-report`).
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/** Pairs of flags that cannot be given together. */
const CONTRADICTIONS: readonly [string, string][] = [["--report", "--no-report"]];

/** The flags `args` gives (`--name` of `--name value` and `--name=value`), in order. */
function flagsGiven(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (a === "--") break;
    if (a.startsWith("--")) out.push(a.split("=")[0]);
  }
  return out;
}

/**
 * Refuses, with a UsageError, an option of `options` whose value is an empty
 * (or all-blank) string, and two contradicting flags in `args`. `flagOf`
 * names an option's flag (commander's attribute name to `--flag`).
 */
export function checkFlags(
  options: Record<string, unknown>,
  args: readonly string[],
  flagOf: (attribute: string) => string,
): void {
  for (const [key, value] of Object.entries(options)) {
    if (typeof value === "string" && value.trim() === "") {
      throw new UsageError(`${flagOf(key)}: empty value; give a name or leave the flag out`);
    }
  }
  const given = new Set(flagsGiven(args));
  for (const [a, b] of CONTRADICTIONS) {
    if (given.has(a) && given.has(b)) {
      throw new UsageError(`${a} cannot be combined with ${b}`);
    }
  }
}
