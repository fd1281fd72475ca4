/**
 * Where lade's native library lives.
 *
 * Order: the `LADE_NATIVE_LIB` environment variable; inside a compiled `lade`
 * binary, the embedded copy unpacked once to a cache folder (dlopen needs a
 * real file); otherwise `build/native/liblade.so` of this checkout, which
 * `deno task setup` builds.
 *
 * @module
 */

/** The environment variable that overrides the library path. */
export const LIBRARY_ENV = "LADE_NATIVE_LIB";

const LIBRARY_NAME = Deno.build.os === "darwin" ? "liblade.dylib" : "liblade.so";

/** The library inside the checkout (or inside a compiled binary's embedded files). */
export const BUILT_LIBRARY = new URL(`../../build/native/${LIBRARY_NAME}`, import.meta.url);
/** The hash of the sources the built library came from (written by scripts/build-native.sh). */
export const BUILT_HASH = new URL("../../build/native/hash", import.meta.url);

/** True when running inside a binary made by `deno compile`. */
export function isCompiled(): boolean {
  return (import.meta.dirname ?? "").includes("deno-compile-");
}

function cacheRoot(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/lade`;
  const home = Deno.env.get("HOME");
  return home ? `${home}/.cache/lade` : `${Deno.cwd()}/.lade-cache`;
}

/** Unpacks the embedded library to the cache (once per source hash) and returns its path. */
function unpackEmbedded(): string {
  const hash = Deno.readTextFileSync(BUILT_HASH).trim();
  const dir = `${cacheRoot()}/native-${hash}`;
  const target = `${dir}/${LIBRARY_NAME}`;
  try {
    if (Deno.statSync(target).isFile) return target;
  } catch {
    // Not unpacked yet.
  }
  Deno.mkdirSync(dir, { recursive: true });
  const tmp = `${target}.${Deno.pid}.tmp`;
  Deno.writeFileSync(tmp, Deno.readFileSync(BUILT_LIBRARY), { mode: 0o755 });
  Deno.renameSync(tmp, target);
  return target;
}

/** The path to open: see the module documentation for the order. */
export function resolveLibraryPath(): string {
  const fromEnv = Deno.env.get(LIBRARY_ENV);
  if (fromEnv) return fromEnv;
  if (isCompiled()) return unpackEmbedded();
  return decodeURIComponent(BUILT_LIBRARY.pathname);
}
