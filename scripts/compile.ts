/**
 * `deno task compile`: builds one `lade` executable (dist/lade) that can be
 * copied alone to a machine with libtorch.
 *
 * Two ways, chosen by what this machine can reach:
 * - With `DENORT_BIN` set (the path to Deno's `denort` runtime, which
 *   `deno compile` otherwise downloads from dl.deno.land), a real
 *   `deno compile` binary with the native library embedded; on first use it
 *   unpacks the library to ~/.cache/lade (lib/torch/library_path.ts).
 * - Otherwise (no denort here: it is not on the npm registry), a
 *   self-extracting executable: a POSIX shell header followed by a gzipped
 *   tar of this Deno runtime, lade bundled into one JavaScript file
 *   (`deno bundle`, npm dependencies inlined) and the native library. On
 *   first use it unpacks once to ~/.cache/lade/app-<hash>/ and runs from there.
 *
 * @module
 */

const root = new URL("..", import.meta.url).pathname;
const output = Deno.args[0] ?? `${root}dist/lade`;

async function run(cmd: string, args: string[], cwd = root): Promise<void> {
  const { code } = await new Deno.Command(cmd, { args, cwd, stdout: "inherit", stderr: "inherit" })
    .output();
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${code})`);
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function denoCompile(): Promise<void> {
  await run(Deno.execPath(), [
    "compile",
    "--allow-all",
    "--include",
    "build/native/liblade.so",
    "--include",
    "build/native/hash",
    "--output",
    output,
    "main.ts",
  ]);
}

const HEADER = `#!/bin/sh
# lade: a self-extracting single-file build (Deno runtime + lade + native library).
# It unpacks itself once to \${XDG_CACHE_HOME:-~/.cache}/lade/app-@ID@ and runs from there.
set -e
dir="\${XDG_CACHE_HOME:-\${HOME:-/tmp}/.cache}/lade/app-@ID@"
if [ ! -f "$dir/ok" ]; then
  mkdir -p "$dir.tmp.$$"
  tail -n +@SKIP@ "$0" | tar -xzf - -C "$dir.tmp.$$"
  touch "$dir.tmp.$$/ok"
  rm -rf "$dir" && mv "$dir.tmp.$$" "$dir" || rm -rf "$dir.tmp.$$"
fi
export LADE_NATIVE_LIB="\${LADE_NATIVE_LIB:-$dir/liblade.so}" DENO_NO_UPDATE_CHECK=1
exec "$dir/deno" run --allow-all --no-config --no-lock --quiet "$dir/lade.js" "$@"
`;

async function selfExtracting(): Promise<void> {
  const stage = `${root}build/compile/stage`;
  await Deno.remove(stage, { recursive: true }).catch(() => {});
  await Deno.mkdir(stage, { recursive: true });
  await run(Deno.execPath(), [
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    "--output",
    `${stage}/lade.js`,
    "main.ts",
  ]);
  await Deno.copyFile(Deno.execPath(), `${stage}/deno`);
  await Deno.chmod(`${stage}/deno`, 0o755);
  await Deno.copyFile(`${root}build/native/liblade.so`, `${stage}/liblade.so`);
  const payload = `${root}build/compile/payload.tar.gz`;
  await run("tar", ["-czf", payload, "-C", stage, "deno", "lade.js", "liblade.so"]);
  const id = (await sha256(payload)).slice(0, 16);
  const skip = HEADER.split("\n").length; // the payload starts on the line after the header
  const header = new TextEncoder().encode(
    HEADER.replaceAll("@ID@", id).replace("@SKIP@", String(skip)),
  );
  const body = await Deno.readFile(payload);
  const tmp = `${output}.tmp`;
  await Deno.mkdir(new URL(".", `file://${output}`).pathname, { recursive: true });
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o755 });
  try {
    await file.write(header);
    let offset = 0;
    while (offset < body.length) offset += await file.write(body.subarray(offset));
  } finally {
    file.close();
  }
  await Deno.rename(tmp, output);
}

try {
  if (Deno.env.get("DENORT_BIN")) await denoCompile();
  else await selfExtracting();
  console.log(`compiled ${output}`);
} catch (error) {
  console.error(`error: ${(error as Error).message}`);
  Deno.exit(1);
}
