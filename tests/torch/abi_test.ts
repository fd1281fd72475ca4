import assert from "node:assert/strict";
import {
  checkRepository,
  compareAbi,
  compareDefinitions,
  parseHeader,
  type TsAbi,
} from "../../scripts/check_abi.ts";
import { ABI_VERSION, symbols } from "../../lib/torch/ffi.ts";
import { NATIVE_ENUMS } from "../../lib/torch/ops.ts";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("lade.h, ffi.ts, ops.ts and the native sources agree", async () => {
  assert.deepEqual(await checkRepository(), []);
});

Deno.test("the check reads every declaration and enum of lade.h", async () => {
  const text = await Deno.readTextFile(`${root}native/include/lade.h`);
  const header = parseHeader(text);
  const declared = text.match(/^LADE_EXTERN /gm)?.length ?? 0;
  assert.ok(declared > 90, `only ${declared} declarations`);
  assert.equal(header.functions.size, declared);
  assert.equal(header.functions.size, Object.keys(symbols).length);
  assert.equal(header.enums.size, Object.keys(NATIVE_ENUMS).length);
  assert.equal(header.abiVersion, ABI_VERSION);
  assert.deepEqual(header.problems, []);
  assert.deepEqual(header.functions.get("lade_pad")?.params, [
    { type: "lade_tensor*", name: "a" },
    { type: "const int64_t*", name: "pads" },
    { type: "int32_t", name: "n" },
    { type: "double", name: "value" },
  ]);
});

// A small header and table pair, right and then wrong in each way the check looks for.
const HEADER = `
#define LADE_EXTERN extern "C"
#define LADE_ABI_VERSION 3
typedef struct lade_tensor lade_tensor;
/* the op codes */
enum lade_op_unary { LADE_UNARY_NEG = 0, LADE_UNARY_LOGICAL_NOT = 1 };
LADE_EXTERN const char* lade_last_error(void);
// a comment naming lade_fake(int) is not a declaration
LADE_EXTERN lade_tensor* lade_pad(lade_tensor* a, const int64_t* pads, int64_t n,
                                  double value);
LADE_EXTERN void lade_tensor_free(lade_tensor* t);
`;

const TABLE: TsAbi = {
  abiVersion: 3,
  symbols: {
    lade_last_error: { parameters: [], result: "pointer" },
    lade_pad: { parameters: ["pointer", "buffer", "i64", "f64"], result: "pointer" },
    lade_tensor_free: { parameters: ["pointer"], result: "void" },
  },
  enums: { lade_op_unary: { prefix: "LADE_UNARY_", codes: { neg: 0, logicalNot: 1 } } },
};

function withSymbol(name: string, value: { parameters: string[]; result: string } | undefined) {
  const symbols: Record<string, { parameters: string[]; result: string }> = {
    ...TABLE.symbols,
  } as Record<string, { parameters: string[]; result: string }>;
  if (value === undefined) delete symbols[name];
  else symbols[name] = value;
  return { ...TABLE, symbols };
}

Deno.test("a matching header and table pass", () => {
  assert.deepEqual(compareAbi(parseHeader(HEADER), TABLE), []);
});

Deno.test("a parameter type that differs fails, naming the function, parameter and types", () => {
  // The drift this check was written for: int64_t n in C, "i32" in ffi.ts.
  const diff = compareAbi(
    parseHeader(HEADER),
    withSymbol("lade_pad", { parameters: ["pointer", "buffer", "i32", "f64"], result: "pointer" }),
  );
  assert.equal(diff.length, 1, diff.join("\n"));
  assert.match(diff[0], /lade_pad, parameter 3 \(n\): lade\.h int64_t .*"i64".*ffi\.ts has "i32"/);
});

Deno.test("a handle passed as a buffer, a wrong result and a wrong count fail", () => {
  const header = parseHeader(HEADER);
  assert.match(
    compareAbi(header, withSymbol("lade_tensor_free", { parameters: ["buffer"], result: "void" }))
      .join("\n"),
    /lade_tensor_free, parameter 1 \(t\): lade\.h lade_tensor\* \(FFI "pointer"\)/,
  );
  assert.match(
    compareAbi(header, withSymbol("lade_tensor_free", { parameters: ["pointer"], result: "i32" }))
      .join("\n"),
    /lade_tensor_free: result is void .*ffi\.ts has "i32"/,
  );
  assert.match(
    compareAbi(header, withSymbol("lade_pad", { parameters: ["pointer"], result: "pointer" }))
      .join("\n"),
    /lade_pad: lade\.h has 4 parameters, ffi\.ts 1/,
  );
});

Deno.test("missing and extra functions fail", () => {
  const header = parseHeader(HEADER);
  assert.match(
    compareAbi(header, withSymbol("lade_tensor_free", undefined)).join("\n"),
    /lade_tensor_free: declared in lade\.h .* but missing from ffi\.ts/,
  );
  assert.match(
    compareAbi(header, withSymbol("lade_extra", { parameters: [], result: "void" })).join("\n"),
    /lade_extra: in ffi\.ts but not declared in lade\.h/,
  );
});

Deno.test("enum values, names, missing explicit values and the ABI version are compared", () => {
  const wrongValue = HEADER.replace("LADE_UNARY_LOGICAL_NOT = 1", "LADE_UNARY_LOGICAL_NOT = 2");
  assert.match(
    compareAbi(parseHeader(wrongValue), TABLE).join("\n"),
    /LADE_UNARY_LOGICAL_NOT is 2 in lade\.h, ops\.ts 'logicalNot' is 1/,
  );
  const extraEntry = HEADER.replace("= 1 }", "= 1, LADE_UNARY_EXP = 2 }");
  assert.match(compareAbi(parseHeader(extraEntry), TABLE).join("\n"), /no 'exp' in ops\.ts/);
  const implicit = HEADER.replace("LADE_UNARY_LOGICAL_NOT = 1", "LADE_UNARY_LOGICAL_NOT");
  assert.match(
    compareAbi(parseHeader(implicit), TABLE).join("\n"),
    /'LADE_UNARY_LOGICAL_NOT' needs an explicit value/,
  );
  assert.match(
    compareAbi(parseHeader(HEADER), { ...TABLE, abiVersion: 2 }).join("\n"),
    /LADE_ABI_VERSION is 3, ffi\.ts ABI_VERSION is 2/,
  );
  assert.match(
    compareAbi(parseHeader(HEADER), { ...TABLE, enums: {} }).join("\n"),
    /enum lade_op_unary: in lade\.h but no table/,
  );
});

Deno.test("definitions in the native sources are compared with the declarations", () => {
  const header = parseHeader(HEADER);
  const sources = new Map([
    ["a.cpp", "LADE_EXTERN const char* lade_last_error() { return x; }"],
    [
      "b.cpp",
      "LADE_EXTERN lade_tensor* lade_pad(lade_tensor* a, const int64_t* p, int64_t n,\n double v) {}\nLADE_EXTERN int32_t lade_undeclared() { return 0; }",
    ],
  ]);
  const diff = compareDefinitions(header, sources).join("\n");
  assert.match(diff, /lade_undeclared: defined in b\.cpp, not declared in lade\.h/);
  assert.match(diff, /lade_tensor_free: declared in lade\.h, defined in no native source/);
});

Deno.test("deno task check's script exits non-zero and lists the differences for a broken header", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-abi-" });
  try {
    const text = await Deno.readTextFile(`${root}native/include/lade.h`);
    const broken = text.replace(
      /const int64_t\* pads, int32_t n/,
      "const int64_t* pads, int64_t n",
    );
    assert.notEqual(broken, text);
    await Deno.writeTextFile(`${dir}/lade.h`, broken);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${root}scripts/check_abi.ts`, "--header", `${dir}/lade.h`],
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(stderr, /lade_pad, parameter 3 \(n\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Builds a stand-in native library from C source; null when no C compiler is around. */
async function fakeLibrary(dir: string, source: string): Promise<string | null> {
  await Deno.writeTextFile(`${dir}/fake.c`, source);
  try {
    const out = await new Deno.Command("cc", {
      args: ["-shared", "-fPIC", "-o", `${dir}/libfake.so`, `${dir}/fake.c`],
    }).output();
    return out.code === 0 ? `${dir}/libfake.so` : null;
  } catch {
    return null;
  }
}

/** Opens the library at `path` in a fresh process; returns the error's name and message. */
async function openIn(path: string): Promise<{ name: string; message: string }> {
  const code = `
    import { zeros } from "${root}lib/torch/mod.ts";
    try { zeros([1]); console.log(JSON.stringify({ name: "none", message: "" })); }
    catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message })); }`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { LADE_NATIVE_LIB: path },
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("a library of another ABI version is refused in one line: rebuild with deno task build", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-abi-" });
  try {
    // An old build: the version symbol and nothing else that this code needs.
    const path = await fakeLibrary(dir, "int lade_abi_version(void) { return 1; }\n");
    if (path === null) return; // no C compiler: nothing to build the stand-in with
    const e = await openIn(path);
    assert.equal(e.name, "NativeLibraryError");
    assert.match(e.message, /ABI version 1 but this code needs \d+: rebuild with deno task build/);
    assert.ok(!e.message.includes("\n"), e.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file that is not lade's library is a NativeLibraryError naming the path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-abi-" });
  try {
    const path = await fakeLibrary(dir, "int something_else(void) { return 0; }\n");
    if (path === null) return;
    const e = await openIn(path);
    assert.equal(e.name, "NativeLibraryError");
    assert.match(e.message, /cannot open lade's native library .*libfake\.so/);
    const missing = await openIn(`${dir}/missing.so`);
    assert.equal(missing.name, "NativeLibraryError");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
