/**
 * How tests check that lade refuses bad input: the call throws the
 * library's `InputError` (exit 2 at the command line) with a one-line
 * message, and that message as lade prints it after `lade: error: `
 * (parameters named by the flags in `given`, as main.ts's exitWithError
 * prints it) matches a pattern. (Tests that run the command line in a process of their
 * own read its stderr instead: tests/cli.ts.)
 */

import assert from "node:assert/strict";
import { InputError } from "../lib/errors.ts";
import { describeError } from "../lib/cli/errors.ts";

/** What lade prints after `lade: error: ` for `error`, after checking it is bad input in one line. */
export function refusalText(error: unknown, given?: readonly string[]): string {
  assert.ok(error instanceof InputError, String(error));
  assert.ok(!error.message.trim().includes("\n"), `more than one line: ${error.message}`);
  return describeError(error, given);
}

/** `fn` refuses its input: an `InputError` whose printed message matches `re`. */
export function refusesSync(fn: () => unknown, re: RegExp, given?: readonly string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.match(refusalText(e, given), re);
    return true;
  });
}

/**
 * `fn` refuses its input: an `InputError` whose printed message matches `re`.
 * While it runs, what it prints on stdout is collected and returned (a
 * refusal usually prints nothing before it) and stderr is dropped.
 */
export async function refuses(
  fn: () => unknown,
  re: RegExp,
  given?: readonly string[],
): Promise<string[]> {
  const printed: string[] = [];
  const { log, error } = console;
  console.log = (...data: unknown[]) => printed.push(data.join(" "));
  console.error = () => {};
  try {
    await assert.rejects(async () => await fn(), (e: unknown) => {
      assert.match(refusalText(e, given), re);
      return true;
    });
  } finally {
    console.log = log;
    console.error = error;
  }
  return printed;
}
