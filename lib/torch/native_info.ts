/**
 * What the loaded native library reports about itself.
 *
 * @module
 */

import { native } from "./ffi.ts";
import { cString } from "./strings.ts";

/**
 * The architecture names the native model factory builds
 * (`lade_model_architectures`, from the one table in
 * native/src/model_api.cpp), in its order.
 *
 * @example The networks this build has
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativeArchitectures } from "./mod.ts";
 *
 * assert.ok(nativeArchitectures().includes("resnet32"));
 * ```
 */
export function nativeArchitectures(): string[] {
  const names = cString(native().lade_model_architectures());
  return names === "" ? [] : names.split(",");
}

/**
 * The libtorch version the native library was compiled against ("2.1.0").
 *
 * @example libtorch's version
 * ```ts
 * import assert from "node:assert/strict";
 * import { torchVersion } from "./mod.ts";
 *
 * assert.match(torchVersion(), /^\d+\.\d+\.\d+/);
 * ```
 */
export function torchVersion(): string {
  return cString(native().lade_torch_version());
}

/** The native library's ABI version (the one this code expects, once the library is open). */
export function abiVersion(): number {
  return native().lade_abi_version();
}
