/**
 * Errors raised by the tensor layer.
 *
 * @module
 */

import { cString, native } from "./ffi.ts";

/** A failure inside libtorch or lade's native library, carrying its message. */
export class TorchError extends Error {
  /** Always "TorchError". */
  override name = "TorchError";
}

/** Throws a TorchError with the native library's last message. */
export function throwLastError(context: string): never {
  const message = cString(native().lade_last_error());
  throw new TorchError(message ? `${context}: ${message}` : `${context} failed`);
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
