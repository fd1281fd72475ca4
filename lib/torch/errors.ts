/**
 * Errors of the tensor layer: the library's {@link TorchError} and
 * {@link NativeLibraryError} (from lib/errors.ts, re-exported here), and the
 * checks that turn a native failure into a TorchError carrying libtorch's
 * message.
 *
 * @module
 */

import { TorchError } from "../errors.ts";
import { native } from "./ffi.ts";
import { cString } from "./strings.ts";

export { DisposedError, NativeLibraryError, TorchError } from "../errors.ts";

/** Throws a TorchError for `context` with the native library's last message. */
export function throwLastError(context: string): never {
  const message = cString(native().lade_last_error());
  throw message ? new TorchError(context, message) : new TorchError(`${context} failed`);
}

/** Returns `ptr`, or throws the native error when it is NULL. */
export function checkPtr(ptr: Deno.PointerValue, context: string): Deno.PointerObject {
  if (ptr === null) throwLastError(context);
  return ptr;
}

/** Throws the native error when `status` is not 0. */
export function checkStatus(status: number, context: string): void {
  if (status !== 0) throwLastError(context);
}
