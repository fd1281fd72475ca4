import assert from "node:assert/strict";

const main = new URL("../../main.ts", import.meta.url).pathname;

async function lade(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", main, ...args], env })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("info --json reports versions, threads, CUDA and the library path", async () => {
  const { code, stdout } = await lade(["info", "--json"]);
  assert.equal(code, 0);
  const info = JSON.parse(stdout);
  assert.equal(info.deno, Deno.version.deno);
  assert.match(info.libtorch, /^\d+\.\d+\.\d+$/);
  assert.ok(info.threads >= 1);
  assert.equal(typeof info.cuda.available, "boolean");
  assert.ok(Array.isArray(info.distributed.backends));
  for (const b of info.distributed.backends) assert.ok(["gloo", "nccl"].includes(b), b);
  assert.ok(info.native_library.endsWith("liblade.so"));
  // One name per fact, snake_case (it had camelCase twins: nativeLibrary).
  assert.equal(info.nativeLibrary, undefined);
  assert.equal(info.native_library_origin, "checkout");
  // The libtorch the library was built against (build/native/torch.json).
  assert.ok(info.torch.version.startsWith(info.libtorch), info.torch.version); // 2.11.0+cu130
  assert.ok(
    ["LADE_TORCH_DIR", "CMAKE_PREFIX_PATH", "python3", "system"].includes(info.torch.source),
  );
  assert.equal(typeof info.torch.cuda, "boolean");
  assert.ok(Array.isArray(info.torch.cuda_archs));
  assert.equal(typeof info.winograd_training, "boolean");
  assert.equal(typeof info.winograd16, "boolean");
});

Deno.test("info --json: LADE_WINOGRAD=0 turns the Winograd paths off", async () => {
  const off = JSON.parse((await lade(["info", "--json"], { LADE_WINOGRAD: "0" })).stdout);
  assert.equal(off.winograd_training, false);
  assert.equal(off.winograd16, false);
  assert.equal(
    off.onednn_inference,
    JSON.parse((await lade(["info", "--json"])).stdout).onednn_inference,
  );
});

Deno.test("a missing native library is one clear line and a non-zero exit", async () => {
  const { code, stderr } = await lade(["info"], { LADE_NATIVE_LIB: "/nonexistent/liblade.so" });
  assert.notEqual(code, 0);
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0], /cannot open lade's native library \/nonexistent\/liblade\.so/);
  assert.match(lines[0], /LADE_NATIVE_LIB/);
});

Deno.test("an unknown command is one line and exit 2, as every usage error", async () => {
  const { code, stderr } = await lade(["frobnicate"]);
  assert.equal(code, 2);
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
  assert.match(stderr, /unknown command 'frobnicate'/);
});

Deno.test("a misspelled flag or command: commander's suggestion on the one line, exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["train", "--epoch", "3"],
      /^lade: error: unknown option '--epoch' \(Did you mean --epochs\?\)$/,
    ],
    [["trian"], /^lade: error: unknown command 'trian' \(Did you mean train\?\)$/],
    [["info", "--jsn"], /^lade: error: unknown option '--jsn' \(Did you mean --json\?\)$/],
    [["evaluate", "--run"], /^lade: error: option '--run <dir>' argument missing$/],
  ];
  for (const [args, expected] of cases) {
    const { code, stderr } = await lade(args);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr.trim(), expected);
  }
  // Help and the version are not errors.
  assert.equal((await lade(["--version"])).code, 0);
  assert.equal((await lade(["train", "--help"])).code, 0);
});
