import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;

async function sh(cmd: string, args: string[], options: Deno.CommandOptions = {}) {
  const out = await new Deno.Command(cmd, { args, cwd: root, ...options }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("a second native build is skipped: the cache key is unchanged", async () => {
  // setup has already built the library for this checkout; building again must be a no-op.
  const { code, stdout } = await sh("bash", ["scripts/build-native.sh"]);
  assert.equal(code, 0);
  assert.match(stdout, /native library up to date/);
});

Deno.test("the compiled binary, copied alone into an empty folder, runs info --json", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-compiled-" });
  try {
    const built = `${dir}/build/lade`;
    const compile = await sh(Deno.execPath(), ["run", "-A", "scripts/compile.ts", built], {
      env: { DENORT_BIN: "" },
    });
    assert.equal(compile.code, 0, compile.stderr);
    const empty = `${dir}/empty`;
    await Deno.mkdir(empty);
    await Deno.copyFile(built, `${empty}/lade`);
    await Deno.chmod(`${empty}/lade`, 0o755);
    await Deno.remove(`${dir}/build`, { recursive: true });
    const out = await new Deno.Command(`${empty}/lade`, {
      args: ["info", "--json"],
      cwd: empty,
      clearEnv: true,
      env: { HOME: empty, PATH: "/usr/bin:/bin" },
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(text);
    assert.equal(info.lade, "0.1.0");
    assert.match(info.libtorch, /^\d+\.\d+\.\d+$/);
    assert.ok(info.nativeLibrary.startsWith(empty), info.nativeLibrary);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
