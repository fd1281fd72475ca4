/**
 * The README's table of `train`'s flags, made from the one table that
 * declares them (lib/config/train_flags.ts): prints it, or with `--write`
 * puts it into README.md between its markers. tests/cli/train_flags_test.ts
 * fails when the README's table and the flags differ.
 *
 *     deno run -A scripts/readme_flags.ts --write
 */

import { trainFlagsTable } from "../lib/config/train_flags.ts";

/** The markers around the table in README.md. */
export const BEGIN = "<!-- train flags: made by scripts/readme_flags.ts -->";
export const END = "<!-- end of train flags -->";

/** `readme` with the text between the markers replaced by the table. */
export function withTable(readme: string): string {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md lacks the markers ${BEGIN} ... ${END}`);
  return readme.slice(0, a + BEGIN.length) + "\n\n" + trainFlagsTable() + "\n\n" + readme.slice(b);
}

if (import.meta.main) {
  const path = new URL("../README.md", import.meta.url);
  if (Deno.args.includes("--write")) {
    await Deno.writeTextFile(path, withTable(await Deno.readTextFile(path)));
  } else {
    console.log(trainFlagsTable());
  }
}
