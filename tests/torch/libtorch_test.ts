/**
 * Finding a machine's libtorch (lib/torch/libtorch.ts) and its agreement with
 * scripts/build-native.sh, which finds it with the same rules when it builds
 * (`--print-torch` shows its choice without building).
 */

import assert from "node:assert/strict";
import {
  describeLibtorch,
  findLibtorch,
  libtorchId,
  readTorchJson,
  sameLibtorch,
  type TorchBuild,
} from "../../lib/torch/libtorch.ts";

const root = new URL("../../", import.meta.url).pathname;
const noEnv = () => undefined;

/** A fake python3 in `bin` that reports `torchDir` as its torch package (or none). */
async function fakePython(bin: string, torchDir: string): Promise<string> {
  await Deno.mkdir(bin, { recursive: true });
  const path = `${bin}/python3`;
  await Deno.writeTextFile(path, `#!/bin/sh\necho '${torchDir}'\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

/** A torch package folder as a PyTorch wheel lays it out (only the files the lookup reads). */
async function fakeWheel(dir: string, version: string, cuda: string | null, cmake = true) {
  await Deno.mkdir(`${dir}/lib`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/version.py`,
    `from typing import Optional\n\n__all__ = ['__version__']\n__version__ = '${version}'\n` +
      `debug = False\ncuda: Optional[str] = ${cuda === null ? "None" : `'${cuda}'`}\n` +
      `git_version = 'abc'\nhip: Optional[str] = None\n`,
  );
  if (cmake) {
    await Deno.mkdir(`${dir}/share/cmake/Torch`, { recursive: true });
    await Deno.writeTextFile(`${dir}/share/cmake/Torch/TorchConfig.cmake`, "# fake\n");
  }
}

/** What build-native.sh would build against, in an environment of `env` only. */
async function scriptChoice(env: Record<string, string>): Promise<TorchBuild> {
  const out = await new Deno.Command("bash", {
    args: [`${root}scripts/build-native.sh`, "--print-torch"],
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", ...env },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function identity(t: TorchBuild) {
  return {
    version: t.version,
    dir: t.dir,
    source: t.source,
    cuda: t.cuda,
    cudaVersion: t.cuda_version,
  };
}

Deno.test("a libtorch zip in LADE_TORCH_DIR: build-version, CUDA from its libraries", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-libtorch-zip-" });
  try {
    await Deno.mkdir(`${dir}/lib`);
    await Deno.writeTextFile(`${dir}/build-version`, "2.3.1+cu121\n");
    await Deno.writeTextFile(`${dir}/lib/libtorch_cuda.so`, "");
    const env = (name: string) => (name === "LADE_TORCH_DIR" ? dir : undefined);
    const found = findLibtorch({ env })!;
    assert.deepEqual(identity(found), {
      version: "2.3.1+cu121",
      dir: await Deno.realPath(dir),
      source: "LADE_TORCH_DIR",
      cuda: true,
      cudaVersion: "12.1",
    });
    assert.deepEqual(identity(await scriptChoice({ LADE_TORCH_DIR: dir })), identity(found));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the version from the headers when a libtorch has no version file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-libtorch-h-" });
  try {
    const h = `${dir}/include/torch/csrc/api/include/torch`;
    await Deno.mkdir(h, { recursive: true });
    await Deno.writeTextFile(
      `${h}/version.h`,
      "#pragma once\n#define TORCH_VERSION_MAJOR 2\n#define TORCH_VERSION_MINOR 1\n" +
        '#define TORCH_VERSION_PATCH 0\n#define TORCH_VERSION "2.1.0"\n',
    );
    const found = describeLibtorch(dir, "LADE_TORCH_DIR");
    assert.equal(found.version, "2.1.0");
    assert.equal(found.cuda, false);
    assert.equal(found.cuda_version, null);
    assert.deepEqual(identity(await scriptChoice({ LADE_TORCH_DIR: dir })), identity(found));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("python3's CUDA wheel is found without importing torch, by both lookups", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-libtorch-wheel-" });
  try {
    const torch = `${dir}/site-packages/torch`;
    await fakeWheel(torch, "2.11.0+cu130", "13.0");
    const python = await fakePython(`${dir}/bin`, torch);
    const found = findLibtorch({ env: noEnv, python })!;
    assert.deepEqual(identity(found), {
      version: "2.11.0+cu130",
      dir: await Deno.realPath(torch),
      source: "python3",
      cuda: true,
      cudaVersion: "13.0",
    });
    const script = await scriptChoice({ PATH: `${dir}/bin:/usr/bin:/bin` });
    assert.deepEqual(identity(script), identity(found));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("python3's CPU wheel serves a binary; a checkout's build keeps the system's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-libtorch-cpu-wheel-" });
  try {
    const torch = `${dir}/torch`;
    await fakeWheel(torch, "2.11.0+cpu", null);
    const python = await fakePython(`${dir}/bin`, torch);
    const found = findLibtorch({ env: noEnv, python })!;
    assert.equal(found.source, "python3");
    assert.equal(found.cuda, false);
    const script = await scriptChoice({ PATH: `${dir}/bin:/usr/bin:/bin` });
    assert.equal(script.source, "system");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a torch package without libtorch's CMake files (Debian's python3-torch) is skipped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-libtorch-debian-py-" });
  try {
    const torch = `${dir}/torch`;
    await fakeWheel(torch, "1.13.0a0", "11.8", false);
    const python = await fakePython(`${dir}/bin`, torch);
    const found = findLibtorch({ env: noEnv, python });
    const script = await scriptChoice({ PATH: `${dir}/bin:/usr/bin:/bin` });
    assert.equal(script.source, "system");
    if (found) {
      assert.equal(found.source, "system");
      assert.deepEqual(identity(script), identity(found));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("this machine's libtorch is the one the checkout's library was built against", () => {
  const built = readTorchJson(`${root}build/native/torch.json`);
  assert.ok(built, "build/native/torch.json is missing: run deno task build");
  if (built.source !== "system") return; // a checkout built against another libtorch
  const found = findLibtorch({ env: noEnv, python: "python3" });
  assert.ok(found);
  assert.ok(sameLibtorch(found, built), `${JSON.stringify(found)} vs ${JSON.stringify(built)}`);
  assert.equal(built.cuda, false);
  assert.match(built.lade_sources ?? "", /^[0-9a-f]{16}$/);
});

Deno.test("a libtorch's id depends on its version and folder only", () => {
  const a: TorchBuild = {
    version: "2.1.0",
    dir: "/opt/a",
    source: "system",
    cuda: false,
    cuda_version: null,
    cuda_archs: [],
  };
  const id = libtorchId(a);
  assert.match(id, /^[0-9a-f]{16}$/);
  assert.equal(libtorchId({ ...a, source: "python3", cuda_archs: ["sm_90"] }), id);
  assert.notEqual(libtorchId({ ...a, dir: "/opt/b" }), id);
  assert.notEqual(libtorchId({ ...a, version: "2.1.1" }), id);
  assert.ok(sameLibtorch(a, { ...a, source: "LADE_TORCH_DIR" }));
  assert.ok(!sameLibtorch(a, { ...a, dir: "/opt/b" }));
});
