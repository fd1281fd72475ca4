/**
 * How the command line reports failure: one line on stderr, a non-zero exit,
 * never a stack trace (set LADE_DEBUG=1 to see one).
 *
 * @module
 */

/** A problem with the user's input (flags, files, configs): reported as one line. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** One line describing `error` for a user. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const firstLine = error.message.split("\n").find((l) => l.trim() !== "") ?? error.name;
    return firstLine.trim();
  }
  return String(error);
}

/** Prints `error` as one line and exits with status 1 (2 for usage errors). */
export function exitWithError(error: unknown): never {
  if (Deno.env.get("LADE_DEBUG")) console.error(error);
  console.error(`lade: error: ${describeError(error)}`);
  Deno.exit(error instanceof UsageError ? 2 : 1);
}
