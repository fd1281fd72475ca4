/**
 * The library's error family. Every error that lade's library code throws on
 * purpose is a {@link LadeError}; programs that import `mod.ts` catch them by
 * type. Messages name the library's parameters (`root`, `batchSize`), never
 * command-line flags: the command line (`lib/cli/`) maps parameter names to
 * its flags when it prints.
 *
 * This module sits at the bottom of the import tree: it imports nothing.
 *
 * ```ts
 * import { InputError, LadeError } from "./errors.ts";
 * const e = new InputError("batchSize", "must be a positive integer");
 * console.assert(e instanceof LadeError && e.parameter === "batchSize");
 * ```
 *
 * @module
 */

/** The base of every error lade throws on purpose. */
export class LadeError extends Error {
  /** The class name, for messages and logs. */
  override name = "LadeError";
}

/**
 * Bad input from the caller: an argument, a configuration value, a file that
 * is missing, truncated or in the wrong format. `parameter` names the
 * argument or configuration key at fault when there is one (`batchSize`,
 * `root`, `dataset.name`), so that a front end can say it in its own terms.
 */
export class InputError extends LadeError {
  /** Always "InputError". */
  override name = "InputError";
  /** The parameter (argument or configuration key) at fault, if one is. */
  readonly parameter?: string;

  /**
   * `new InputError(message)` for a problem with no single parameter, or
   * `new InputError(parameter, message)`, whose message then reads
   * "parameter: message".
   */
  constructor(parameterOrMessage: string, message?: string, options?: ErrorOptions) {
    const parameter = message === undefined ? undefined : parameterOrMessage;
    const text = message === undefined ? parameterOrMessage : message;
    super(parameter === undefined ? text : `${parameter}: ${text}`, options);
    this.parameter = parameter;
  }
}

/**
 * A failure inside libtorch or lade's native library. The message starts with
 * what lade was doing; `nativeMessage` (also the `cause`) is libtorch's own
 * text.
 */
export class TorchError extends LadeError {
  /** Always "TorchError". */
  override name = "TorchError";
  /** libtorch's (or the native library's) message, when it gave one. */
  readonly nativeMessage?: string;

  /**
   * `context`: what lade was doing; `nativeMessage`: the native library's
   * text, appended after a colon.
   */
  constructor(context: string, nativeMessage?: string) {
    super(
      nativeMessage ? `${context}: ${nativeMessage}` : context,
      nativeMessage ? { cause: nativeMessage } : undefined,
    );
    this.nativeMessage = nativeMessage;
  }
}

/** The native library cannot be found, opened, or is not the version this code expects. */
export class NativeLibraryError extends LadeError {
  /** Always "NativeLibraryError". */
  override name = "NativeLibraryError";
}

/** A native handle (tensor, model, optimiser, loader, generator) was used after `dispose()`. */
export class DisposedError extends LadeError {
  /** Always "DisposedError". */
  override name = "DisposedError";
}

/**
 * A long operation stopped early because its caller asked it to (a stop
 * flag set by Ctrl-C): nothing is wrong, and what it had not finished was
 * not used.
 */
export class StoppedError extends LadeError {
  /** Always "StoppedError". */
  override name = "StoppedError";
}
