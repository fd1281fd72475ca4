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

Deno.test("the library the tests load was compiled with -Werror and its build printed no warning", async () => {
  if (Deno.env.get("LADE_TORCH_DIR") || Deno.env.get("CMAKE_PREFIX_PATH")) return; // not the CI toolchain
  const cache = await Deno.readTextFile(`${root}build/native-cmake/CMakeCache.txt`);
  assert.match(cache, /^LADE_WERROR:BOOL=ON$/m);
  const log = await Deno.readTextFile(`${root}build/native/build.log`);
  assert.doesNotMatch(log, /warning:/);
});

Deno.test("native/ is formatted by its .clang-format (where clang-format is installed)", async () => {
  const files: string[] = [];
  for (const dir of ["native/include", "native/src"]) {
    for await (const e of Deno.readDir(`${root}${dir}`)) {
      if (/\.(h|cpp)$/.test(e.name)) files.push(`${dir}/${e.name}`);
    }
  }
  let out;
  try {
    out = await sh("clang-format", ["--dry-run", "--Werror", ...files.sort()]);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return; // a development tool, not a requirement
    throw e;
  }
  assert.equal(out.code, 0, `run clang-format -i on native/:\n${out.stderr}`);
});

/** Copies a folder tree (files and folders only). */
async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) await copyTree(`${from}/${entry.name}`, `${to}/${entry.name}`);
    else if (entry.isFile) await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}

Deno.test("a failed native build exits non-zero and stamps nothing, even with a stale library about", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-broken-build-" });
  try {
    await copyTree(`${root}native`, `${dir}/native`);
    await copyTree(`${root}scripts`, `${dir}/scripts`);
    // A good earlier build: its stamped library, and its artefact in the CMake folder.
    await Deno.mkdir(`${dir}/build/native`, { recursive: true });
    await Deno.mkdir(`${dir}/build/native-cmake`, { recursive: true });
    await Deno.writeTextFile(`${dir}/build/native/liblade.so`, "the last good library");
    await Deno.writeTextFile(`${dir}/build/native/hash`, "0123456789abcdef\n");
    await Deno.writeTextFile(`${dir}/build/native-cmake/liblade.so`, "a stale artefact");
    // Break the source that compiles first, so that the build fails within seconds: a
    // missing header stops the compiler at once (an #error would not, and in the unity
    // build the rest of the batch would still be compiled).
    const sources = [];
    for await (const e of Deno.readDir(`${dir}/native/src`)) {
      if (e.name.endsWith(".cpp")) sources.push(e.name);
    }
    const first = `${dir}/native/src/${sources.sort()[0]}`;
    await Deno.writeTextFile(
      first,
      '#include "deliberately_broken_by_build_test.h"\n' + await Deno.readTextFile(first),
    );
    const built = await sh("bash", [`${dir}/scripts/build-native.sh`], {
      cwd: dir,
      env: { LADE_BUILD_JOBS: "1" },
    });
    assert.notEqual(built.code, 0, built.stdout);
    assert.match(built.stderr, /the native build failed/);
    assert.match(built.stdout + built.stderr, /deliberately_broken_by_build_test\.h/);
    // Nothing was stamped: the earlier library and hash are untouched, the stale artefact is gone.
    assert.equal(await Deno.readTextFile(`${dir}/build/native/hash`), "0123456789abcdef\n");
    assert.equal(
      await Deno.readTextFile(`${dir}/build/native/liblade.so`),
      "the last good library",
    );
    await assert.rejects(
      () => Deno.stat(`${dir}/build/native-cmake/liblade.so`),
      Deno.errors.NotFound,
    );
    // Running it again does not take the failed build for an up-to-date one.
    const again = await sh("bash", [`${dir}/scripts/build-native.sh`], {
      cwd: dir,
      env: { LADE_BUILD_JOBS: "1" },
    });
    assert.notEqual(again.code, 0);
    assert.doesNotMatch(again.stdout, /up to date/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
