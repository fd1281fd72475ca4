/**
 * How the command line reports failure: one line on stderr, a non-zero exit,
 * never a stack trace (set LADE_DEBUG=1 to see one). Bad input (an
 * {@link InputError}, from the library or the command line) exits with
 * status 2, anything else with 1; the library's parameter names are said as
 * the flags that set them (see flags.ts).
 *
 * @module
 */

import { InputError, LadeError } from "../errors.ts";
import { onNativeNotice } from "../torch/library_path.ts";
import { flagMessage, flagText } from "./flags.ts";
import { commandLineArgs } from "./argv.ts";

/**
 * A problem only the command line has (a flag that cannot be combined with
 * another, a value that is not a number): bad input, reported as one line.
 */
export class UsageError extends InputError {
  /** Always "UsageError". */
  override name = "UsageError";
}

/**
 * Characters a terminal must not receive from a file's contents: C0 and C1
 * controls (escape sequences start with them) but newline and tab, DEL,
 * the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
 * U+2066-U+2069: "\u202egpj.exe" shows as "exe.jpg"), and lone surrogates
 * (bytes of a file name that are not UTF-8).
 */
const UNSAFE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * `text` safe for a terminal: control characters (escape sequences among
 * them, which file contents quoted in a message may hold), bidirectional
 * controls and lone surrogates become U+FFFD.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, "\ufffd");
}

/**
 * Makes everything the command line prints safe for a terminal: each string
 * given to console.log or console.error has the characters of `printable`
 * written as escapes ("\u202e"), which is also exactly what they mean
 * inside a JSON string (`--json` output stays the same JSON). Names from
 * files (class names, shift-file set names, run folders, variants of an
 * evaluation file) reach tables, warnings and JSON alike, so the guard sits
 * at the one place they all pass.
 */
export function guardTerminalOutput(): void {
  const unsafe = new RegExp(UNSAFE.source); // not global: test() keeps no position
  const escape = (text: string) =>
    unsafe.test(text)
      ? text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
      : text;
  for (const name of ["log", "error"] as const) {
    const original = console[name].bind(console);
    console[name] = (...args: unknown[]) =>
      original(...args.map((a) => (typeof a === "string" ? escape(a) : a)));
  }
}

/** What a file-system call was doing, as Deno names it, in words. */
const FS_OPERATIONS: Readonly<Record<string, string>> = {
  open: "open",
  readfile: "read",
  writefile: "write",
  mkdir: "make the folder",
  rename: "write",
  stat: "find",
  remove: "remove",
  readdir: "read the folder",
};

/**
 * A file-system error in a user's words: Deno's "No such file or directory
 * (os error 2): open '/x/y.json.123.tmp'" becomes "cannot open /x/y.json: no
 * such file or directory" (an atomic write's temporary name is the file it
 * writes); Deno's tail is dropped from messages that already say what failed.
 */
export function fileSystemMessage(line: string): string {
  const m = /^([^:]+?) \(os error \d+\): (\w+) '(.*)'$/.exec(line);
  if (m) {
    const what = FS_OPERATIONS[m[2]] ?? m[2];
    // A rename names both paths ('a' -> 'b'): the file being written is b.
    const target = m[3].includes("' -> '") ? m[3].slice(m[3].lastIndexOf("' -> '") + 6) : m[3];
    const path = target.replace(/\.\d+\.tmp$/, "");
    return `cannot ${what} ${path}: ${m[1].charAt(0).toLowerCase()}${m[1].slice(1)}`;
  }
  return line.replace(/ \(os error \d+\): \w+ '[^']*'$/, "").replace(/ \(os error \d+\)/g, "");
}

/**
 * One line describing `error` for a user, in terms of the command line's
 * flags. With `given` (the command's arguments), a flag the user did not
 * give is not named: the configuration key and where its value came from
 * are (see value_source.ts).
 */
export function describeError(error: unknown, given?: readonly string[]): string {
  if (error instanceof Error) {
    // The library's other errors name parameters in backticks too (`lr`).
    const message = error instanceof InputError
      ? flagMessage(error, given)
      : error instanceof LadeError
      ? flagText(error.message)
      : error.message;
    const firstLine = message.split("\n").find((l) => l.trim() !== "") ?? error.name;
    return printable(fileSystemMessage(firstLine.trim()));
  }
  return printable(String(error));
}

/** A library warning as the one line printWarning prints, in terms of the command line's flags. */
export function describeWarning(message: string): string {
  return printable(flagText(message.split("\n")[0]));
}

/** Prints a library warning as one line on stderr. */
export function printWarning(message: string): void {
  console.error(`lade: warning: ${describeWarning(message)}`);
}

/**
 * Prints the native library loader's notices (a single binary building its
 * library for this machine's libtorch) as one line each on stderr.
 */
export function printNativeNotices(): void {
  onNativeNotice((line) => console.error(`lade: ${line}`));
}

/** Prints `error` as one line and exits with status 1 (2 for bad input). */
export function exitWithError(error: unknown): never {
  if (Deno.env.get("LADE_DEBUG")) console.error(error);
  console.error(`lade: error: ${describeError(error, commandLineArgs())}`);
  Deno.exit(error instanceof InputError ? 2 : 1);
}

/** A message of several lines as one: "error: unknown option '--epoch' (Did you mean --epochs?)". */
export function oneLine(text: string): string {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "").join(" ");
}

/** commander's "errors" that are not: help and the version, which exit 0. */
const NOT_ERRORS = new Set(["commander.helpDisplayed", "commander.help", "commander.version"]);

/**
 * The exit status of a commander error: 0 for help and the version, else 2,
 * as for every other usage error (commander itself exits 1).
 */
export function commanderExitCode(code: string, exitCode: number | undefined): number {
  return NOT_ERRORS.has(code) ? exitCode ?? 0 : 2;
}
