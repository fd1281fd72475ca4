/**
 * `deno task compile`: builds one `lade` executable (dist/lade, or the path
 * given as the first argument) that can be copied alone to a machine with
 * libtorch.
 *
 * The binary carries the native library built here (build/native, made
 * first by scripts/build-native.sh), its torch.json (which libtorch it was
 * built against) and the native sources with the build script
 * (native-sources.tar.gz, small). At start it finds the machine's libtorch;
 * when the carried library was not built for it, it builds one for it once
 * into ~/.cache/lade/ (lib/torch/library_path.ts).
 *
 * Two ways, chosen by what this machine can reach:
 * - With `DENORT_BIN` set (the path to Deno's `denort` runtime, which
 *   `deno compile` otherwise downloads from dl.deno.land), a real
 *   `deno compile` binary with those files embedded.
 * - Otherwise (no denort here: it is not on the npm registry), a
 *   self-extracting executable: a POSIX shell header followed by a gzipped
 *   tar of this Deno runtime, lade bundled into one JavaScript file
 *   (`deno bundle`, npm dependencies inlined) and those files. On first use
 *   it unpacks once to ~/.cache/lade/app-<hash>/ (its app folder) and runs
 *   from there with `LADE_APP_DIR` naming the folder. With `--xz` the
 *   payload is xz-compressed instead (about 12 MiB smaller; the machine that
 *   runs it then needs xz), as scripts/device-pack.sh makes it.
 *
 * Usage: `deno run -A scripts/compile.ts [--xz] [OUTPUT]`.
 *
 * @module
 */

import { selfExtractingHeader } from "./self_extract.ts";

const root = new URL("..", import.meta.url).pathname;
const xz = Deno.args.includes("--xz");

/**
 * xz's preset for `--xz` (default 6). LADE_XZ_PRESET=0 packs about ten times
 * faster and a little larger: the tests use it, as a pack that fits the
 * device limit at preset 0 fits it at 6.
 */
function xzPreset(): string {
  const p = Deno.env.get("LADE_XZ_PRESET") ?? "6";
  if (!/^[0-9]$/.test(p)) throw new Error(`LADE_XZ_PRESET must be 0 to 9, got '${p}'`);
  return p;
}
const output = Deno.args.find((a) => !a.startsWith("--")) ?? `${root}dist/lade`;

async function run(cmd: string, args: string[], cwd = root): Promise<void> {
  const { code } = await new Deno.Command(cmd, { args, cwd, stdout: "inherit", stderr: "inherit" })
    .output();
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${code})`);
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The native sources and their build script, for a rebuild on another machine. */
async function packSources(path: string): Promise<void> {
  await run("tar", ["-czf", path, "--owner=0", "--group=0", "native", "scripts/build-native.sh"]);
}

async function denoCompile(): Promise<void> {
  await Deno.mkdir(`${root}build/compile`, { recursive: true });
  await packSources(`${root}build/compile/native-sources.tar.gz`);
  await run(Deno.execPath(), [
    "compile",
    "--allow-all",
    "--include",
    "build/native/liblade.so",
    "--include",
    "build/native/torch.json",
    "--include",
    "build/compile/native-sources.tar.gz",
    "--output",
    output,
    "main.ts",
  ]);
}

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
  await Deno.copyFile(`${root}build/native/torch.json`, `${stage}/torch.json`);
  await packSources(`${stage}/native.tar.gz`);
  const payload = `${root}build/compile/payload.tar.${xz ? "xz" : "gz"}`;
  if (xz) Deno.env.set("XZ_OPT", `-${xzPreset()} -T0`);
  await run("tar", [
    xz ? "-cJf" : "-czf",
    payload,
    "-C",
    stage,
    "deno",
    "lade.js",
    "liblade.so",
    "torch.json",
    "native.tar.gz",
  ]);
  const id = (await sha256(payload)).slice(0, 16);
  const header = new TextEncoder().encode(selfExtractingHeader(id, xz));
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
  // The library and torch.json the binary carries: up to date with the sources.
  await run("bash", ["scripts/build-native.sh"]);
  if (Deno.env.get("DENORT_BIN")) await denoCompile();
  else await selfExtracting();
  console.log(`compiled ${output}`);
} catch (error) {
  console.error(`error: ${(error as Error).message}`);
  Deno.exit(1);
}
