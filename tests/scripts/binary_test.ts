/**
 * The single binary and the GPU machine's pack, end to end (one compile for
 * all of it, by scripts/device-pack.sh):
 * - the packed folder plus the tree stay under the device tool's 64 MiB;
 * - the binary, copied alone into an empty folder, uses the library it
 *   carries with this machine's libtorch (Debian's), and builds nothing;
 * - it trains as 2 ranks of itself under its launcher (`--nproc-per-node 2`);
 * - pointed (LADE_TORCH_DIR) at a second libtorch, laid out like an unpacked
 *   libtorch zip from Debian's files, it says in one line what is missing
 *   when it cannot build, and otherwise builds the native library for it once
 *   (two concurrent first runs share one build), reports that libtorch in
 *   `info --json`, and reuses the build afterwards.
 *
 * The build takes about two minutes on two cores: this file builds once.
 */

import assert from "node:assert/strict";
import { writeFixture } from "../train/fixture.ts";

const root = new URL("../../", import.meta.url).pathname;
const dec = new TextDecoder();
const TRIPLET = `${Deno.build.arch}-linux-gnu`;
const DEBIAN_LIB = `/usr/lib/${TRIPLET}`;

/**
 * A libtorch folder laid out like an unpacked libtorch zip (lib/, include/,
 * share/cmake/{Torch,Caffe2,ATen}) made of Debian's files: links to its
 * libraries and headers, and its CMake files with their relative paths
 * rewritten for the zip's layout, so that find_package(Torch) works from it.
 */
async function zipLayoutOfDebian(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/lib`, { recursive: true });
  await Deno.mkdir(`${dir}/include`);
  await Deno.mkdir(`${dir}/share/cmake`, { recursive: true });
  for await (const e of Deno.readDir(DEBIAN_LIB)) {
    if (/^lib(torch|c10|caffe2|shm)[^/]*\.so/.test(e.name)) {
      await Deno.symlink(`${DEBIAN_LIB}/${e.name}`, `${dir}/lib/${e.name}`);
    }
  }
  for (const h of ["ATen", "c10", "caffe2", "torch"]) {
    await Deno.symlink(`/usr/include/${h}`, `${dir}/include/${h}`);
  }
  const copy = async (from: string, to: string) => {
    await Deno.mkdir(to, { recursive: true });
    for await (const e of Deno.readDir(from)) {
      if (e.isDirectory) {
        await copy(`${from}/${e.name}`, `${to}/${e.name}`);
        continue;
      }
      let text = await Deno.readTextFile(`${from}/${e.name}`);
      // Debian's files sit one level deeper (lib/<triplet>/cmake/X) than a
      // zip's (share/cmake/X), and its libraries in lib/<triplet>/.
      text = text.replaceAll(
        "${CMAKE_CURRENT_LIST_DIR}/../../../../",
        "${CMAKE_CURRENT_LIST_DIR}/../../../",
      )
        .replaceAll("${_IMPORT_PREFIX}/../include", "${_IMPORT_PREFIX}/include")
        .replaceAll(`\${_IMPORT_PREFIX}/${TRIPLET}/`, "${_IMPORT_PREFIX}/lib/");
      await Deno.writeTextFile(`${to}/${e.name}`, text);
    }
  };
  for (const c of ["Torch", "Caffe2", "ATen"]) {
    await copy(`${DEBIAN_LIB}/cmake/${c}`, `${dir}/share/cmake/${c}`);
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function lade(binary: string, cwd: string, env: Record<string, string>): Promise<Run> {
  return new Deno.Command(binary, { args: ["info", "--json"], cwd, clearEnv: true, env })
    .output()
    .then((o) => ({ code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) }));
}

Deno.test({
  name: "the single binary: the pack's size, the carried library, a rebuild for another libtorch",
  ignore: !(await Deno.stat(`${DEBIAN_LIB}/cmake/Torch/TorchConfig.cmake`).catch(() => null)),
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "lade-binary-" });
    try {
      const empty = `${dir}/empty`;
      const home = `${dir}/home`;
      await Deno.mkdir(empty);
      await Deno.mkdir(home);
      const binary = `${empty}/lade`;

      await t.step("device-pack.sh packs the binary and the npm cache under 64 MiB", async () => {
        const out = await new Deno.Command("bash", {
          args: ["scripts/device-pack.sh", `${dir}/device`],
          cwd: root,
          // xz's fastest preset: a little larger, so a pack that fits here fits at the default 6.
          env: { DENO_EXEC_PATH: Deno.execPath(), LADE_XZ_PRESET: "0" },
        }).output();
        const stdout = dec.decode(out.stdout);
        assert.equal(out.code, 0, dec.decode(out.stderr));
        const m = /= ([\d.]+) MiB \(limit 64 MiB\)/.exec(stdout);
        assert.ok(m, stdout);
        assert.ok(Number(m[1]) < 64, stdout);
        const names = [];
        for await (const e of Deno.readDir(`${dir}/device`)) names.push(e.name);
        assert.deepEqual(names.sort(), ["lade", "npm.tar.xz"]);
        await Deno.copyFile(`${dir}/device/lade`, binary);
        await Deno.chmod(binary, 0o755);
        await Deno.remove(`${dir}/device`, { recursive: true });
      });

      const env = { HOME: home, PATH: "/usr/bin:/bin" };
      let carried = "";
      await t.step("with this machine's libtorch it uses the library it carries", async () => {
        const run = await lade(binary, empty, env);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stderr, "");
        const info = JSON.parse(run.stdout);
        assert.equal(info.native_library_origin, "carried");
        assert.match(
          info.native_library,
          new RegExp(`^${home}/\\.cache/lade/app-[0-9a-f]+/liblade\\.so$`),
        );
        assert.equal(info.torch.source, "system");
        assert.equal(info.torch.cuda, false);
        assert.equal(info.torch.version, info.libtorch);
        carried = info.torch.lade_sources;
      });

      await t.step(
        "it trains as 2 ranks of itself (--nproc-per-node 2, Gloo on loopback)",
        async () => {
          const data = await writeFixture(8, 2);
          try {
            await Deno.writeTextFile(
              `${data}/recipe.yaml`,
              `dataset:\n  name: mnist-lt\n  root: ${data}\n  imbalance: 3\n` +
                `train:\n  epochs: 1\n  batch_size: 8\nthreads: 1\n`,
            );
            const out = await new Deno.Command(binary, {
              args: [
                "train",
                "--config",
                `${data}/recipe.yaml`,
                "--nproc-per-node",
                "2",
                "--out",
                "run",
              ],
              cwd: empty,
              clearEnv: true,
              env,
            }).output();
            const stdout = dec.decode(out.stdout);
            assert.equal(out.code, 0, dec.decode(out.stderr));
            assert.match(stdout, /; 2 ranks \(gloo\), 4 samples of each batch of 8 a rank/);
            assert.equal(stdout.match(/across the shift grid/g)?.length, 1, stdout);
          } finally {
            await Deno.remove(data, { recursive: true });
          }
        },
      );

      const torch = `${dir}/libtorch`;
      await zipLayoutOfDebian(torch);
      // One compile job: the unity build then parses libtorch's headers once, not twice (the
      // least CPU; the suite runs beside it).
      const other = { ...env, LADE_TORCH_DIR: torch, LADE_BUILD_JOBS: "1" };

      await t.step(
        "without cmake and a compiler it says what is missing, in one line",
        async () => {
          const bin = `${dir}/bin`;
          await Deno.mkdir(bin);
          for (const tool of ["bash", "tar"]) {
            await Deno.symlink(`/usr/bin/${tool}`, `${bin}/${tool}`);
          }
          const run = await lade(binary, empty, { ...other, PATH: bin });
          assert.equal(run.code, 1);
          const lines = run.stderr.trim().split("\n");
          assert.equal(lines.length, 1, run.stderr);
          assert.match(
            lines[0],
            /^lade: error: .*libtorch 1\.13\.0 \(LADE_TORCH_DIR=.*\), but cmake, a C\+\+ compiler \(g\+\+ or clang\+\+\) and make \(or ninja\) are missing/,
          );
        },
      );

      let built = "";
      await t.step("with another libtorch it builds once, saying so in one line", async () => {
        const runs = await Promise.all([lade(binary, empty, other), lade(binary, empty, other)]);
        const notices = runs.flatMap((r) => r.stderr.split("\n").filter((l) => l !== ""));
        assert.deepEqual(notices, [
          `lade: building the native library for libtorch 1.13.0 (LADE_TORCH_DIR=${torch}) ` +
          "once; this takes a minute or two",
        ]);
        const infos = runs.map((r) => {
          assert.equal(r.code, 0, r.stderr);
          return JSON.parse(r.stdout);
        });
        for (const info of infos) {
          assert.equal(info.native_library_origin, "built");
          assert.equal(info.torch.dir, torch);
          assert.equal(info.torch.source, "LADE_TORCH_DIR");
          assert.equal(info.torch.version, "1.13.0");
          assert.equal(info.torch.cuda, false);
          assert.equal(info.libtorch, "1.13.0");
        }
        built = infos[0].native_library;
        assert.equal(infos[1].native_library, built);
        assert.match(
          built,
          new RegExp(`^${home}/\\.cache/lade/native-${carried}-[0-9a-f]{16}/liblade\\.so$`),
        );
        // It links against that libtorch's folder.
        const elf = await new Deno.Command("readelf", { args: ["-d", built] }).output();
        assert.match(dec.decode(elf.stdout), new RegExp(`R(UN)?PATH.*${torch}/lib`));
      });

      await t.step("a second run reuses the build", async () => {
        const run = await lade(binary, empty, other);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stderr, "");
        assert.equal(JSON.parse(run.stdout).native_library, built);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
