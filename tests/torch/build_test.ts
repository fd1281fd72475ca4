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

/** One compiler command of compile_commands.json. */
interface CompileCommand {
  file: string;
  command?: string;
  arguments?: string[];
}

/** The arguments of a compile command (`arguments`, or `command` split where it has no quotes). */
function argumentsOf(c: CompileCommand): string[] {
  return c.arguments ?? c.command!.split(/\s+/).filter((a) => a !== "");
}

/**
 * The include folders of `args`: those given with -I (whose headers' warnings
 * count) and with -isystem (whose do not).
 */
function includeFolders(args: readonly string[]): { own: string[]; system: string[] } {
  const own: string[] = [];
  const system: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-I" || a === "-isystem") (a === "-I" ? own : system).push(args[++i]);
    else if (a.startsWith("-isystem")) system.push(a.slice("-isystem".length));
    else if (a.startsWith("-I")) own.push(a.slice(2));
  }
  return { own, system };
}

Deno.test("include folders: -I for the compile command's own headers, -isystem for the rest", () => {
  assert.deepEqual(
    includeFolders([
      "c++",
      "-I/r/native/include",
      "-isystem",
      "/t/include",
      "-isystem/t/api",
      "-I",
      "/g",
    ]),
    { own: ["/r/native/include", "/g"], system: ["/t/include", "/t/api"] },
  );
});

const werrorOff = Deno.env.get("LADE_WERROR") !== undefined && Deno.env.get("LADE_WERROR") !== "1";

Deno.test({
  name: werrorOff
    ? "the library is compiled with -Wall -Wextra -Werror (skipped: LADE_WERROR is set off)"
    : "the library the tests load was compiled with -Wall -Wextra -Werror, libtorch's headers " +
      "as system headers, and its build printed no warning",
  ignore: werrorOff,
  async fn() {
    const cache = await Deno.readTextFile(`${root}build/native-cmake/CMakeCache.txt`);
    assert.match(cache, /^LADE_WERROR:BOOL=ON$/m);
    const commands = JSON.parse(
      await Deno.readTextFile(`${root}build/native-cmake/compile_commands.json`),
    ) as CompileCommand[];
    assert.ok(commands.some((c) => c.file.endsWith("dist.cpp")), "no compile command for dist.cpp");
    for (const c of commands) {
      const args = argumentsOf(c);
      for (const flag of ["-Wall", "-Wextra", "-Werror"]) {
        assert.ok(args.includes(flag), `${c.file}: ${flag}`);
      }
      // Only lade's own headers may warn: libtorch's folders (its C++ API's among them,
      // whatever its root) are system folders.
      const { own, system } = includeFolders(args);
      assert.deepEqual(own, [`${root}native/include`], c.file);
      assert.ok(system.some((d) => d.endsWith("torch/csrc/api/include")), `${c.file}: ${system}`);
    }
    const log = await Deno.readTextFile(`${root}build/native/build.log`);
    assert.doesNotMatch(log, /warning:/);
  },
});

/** Whether clang-format runs here. */
function hasClangFormat(): boolean {
  try {
    return new Deno.Command("clang-format", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
const clangFormat = hasClangFormat();

Deno.test({
  // scripts/setup.sh installs clang-format; elsewhere the check says that it did not run.
  name: clangFormat
    ? "native/ is formatted by its .clang-format"
    : "native/ is formatted by its .clang-format (skipped: clang-format not installed)",
  ignore: !clangFormat,
  async fn() {
    const files: string[] = [];
    for (const dir of ["native/include", "native/src"]) {
      for await (const e of Deno.readDir(`${root}${dir}`)) {
        if (/\.(h|cpp)$/.test(e.name)) files.push(`${dir}/${e.name}`);
      }
    }
    const out = await sh("clang-format", ["--dry-run", "--Werror", ...files.sort()]);
    assert.equal(out.code, 0, `run clang-format -i on native/:\n${out.stderr}`);
  },
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
