/**
 * The ABI check: native/include/lade.h, the one C declaration of lade's
 * native library, against the TypeScript that calls it.
 *
 * - every function lade.h declares against lib/torch/ffi.ts's `symbols`,
 *   parameter by parameter (int32_t is "i32", int64_t "i64", uint64_t "u64",
 *   double "f64", a handle such as `lade_tensor*` is "pointer", any other
 *   pointer "pointer" or "buffer", a pointer result "pointer", void "void"),
 *   with functions missing on either side;
 * - every enum in lade.h against its table in lib/torch/ops.ts
 *   (`NATIVE_ENUMS`), value by value (`LADE_UNARY_LOGICAL_NOT` is
 *   `UNARY.logicalNot`); every entry needs an explicit value;
 * - `LADE_ABI_VERSION` against ffi.ts's `ABI_VERSION`;
 * - the `LADE_EXTERN` definitions in native/src/*.cpp against the
 *   declarations (the compiler checks the signatures of those it sees).
 *
 * Run by `deno task check` and by tests/torch/abi_test.ts. Prints each
 * difference and exits 1 when there are any.
 *
 * ```sh
 * deno run -A scripts/check_abi.ts [--header native/include/lade.h]
 * ```
 *
 * @module
 */

/** One C parameter: its type as written (qualifiers kept) and its name. */
export interface CParam {
  /** The type, whitespace-normalised: `const int64_t*`, `lade_tensor* const*`. */
  type: string;
  /** The parameter's name ("" when the declaration gives none). */
  name: string;
}

/** One function declared with LADE_EXTERN. */
export interface CFunction {
  /** The function's name. */
  name: string;
  /** The result type, whitespace-normalised. */
  result: string;
  /** The parameters in order (none for `(void)`). */
  params: CParam[];
}

/** What lade.h declares. */
export interface ParsedHeader {
  /** Functions by name, in declaration order. */
  functions: Map<string, CFunction>;
  /** Enums by tag: entry name to value. */
  enums: Map<string, Map<string, number>>;
  /** The opaque handle types (`typedef struct X X;`). */
  opaque: Set<string>;
  /** `#define LADE_ABI_VERSION n`, when present. */
  abiVersion?: number;
  /** Problems found while reading (an enum entry without an explicit value, ...). */
  problems: string[];
}

/** A Deno FFI declaration, as far as the check reads it. */
export interface FfiSymbol {
  /** Parameter types ("i32", "pointer", "buffer", ...). */
  readonly parameters: readonly unknown[];
  /** The result type. */
  readonly result: unknown;
}

/** One TypeScript code table and the C prefix of its enum's entries. */
export interface EnumTable {
  /** The prefix of the C names: `LADE_UNARY_`. */
  readonly prefix: string;
  /** camelCase name to value. */
  readonly codes: Readonly<Record<string, number>>;
}

/** The TypeScript side of the ABI. */
export interface TsAbi {
  /** ffi.ts's `symbols`. */
  symbols: Readonly<Record<string, FfiSymbol>>;
  /** ops.ts's `NATIVE_ENUMS`: C enum tag to table. */
  enums: Readonly<Record<string, EnumTable>>;
  /** ffi.ts's `ABI_VERSION`. */
  abiVersion: number;
}

function normalise(type: string): string {
  return type.replace(/\s+/g, " ").replace(/\s*\*/g, "*").trim();
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, "");
}

/** Reads the declarations, enums, opaque types and ABI version of a header such as lade.h. */
export function parseHeader(text: string): ParsedHeader {
  const problems: string[] = [];
  const code = stripComments(text);
  const version = /^\s*#\s*define\s+LADE_ABI_VERSION\s+(\d+)\s*$/m.exec(code);
  const body = code.replace(/^\s*#[^\n]*(?:\\\n[^\n]*)*/gm, "");
  const opaque = new Set<string>();
  for (const m of body.matchAll(/typedef\s+struct\s+(\w+)\s+(\w+)\s*;/g)) {
    if (m[1] !== m[2]) problems.push(`typedef struct ${m[1]} ${m[2]}: use the same name twice`);
    opaque.add(m[2]);
  }
  const enums = new Map<string, Map<string, number>>();
  for (const m of body.matchAll(/enum\s+(\w+)\s*\{([^}]*)\}\s*;/g)) {
    const entries = new Map<string, number>();
    for (const raw of m[2].split(",")) {
      const entry = raw.trim();
      if (entry === "") continue;
      const e = /^(\w+)\s*=\s*(-?\d+)$/.exec(entry);
      if (!e) {
        problems.push(`enum ${m[1]}: '${entry}' needs an explicit value (NAME = number)`);
        continue;
      }
      if (entries.has(e[1])) problems.push(`enum ${m[1]}: ${e[1]} appears twice`);
      entries.set(e[1], Number(e[2]));
    }
    enums.set(m[1], entries);
  }
  const functions = new Map<string, CFunction>();
  for (const m of body.matchAll(/LADE_EXTERN\s+([^;(]*?)\b(lade_\w+)\s*\(([^)]*)\)\s*;/g)) {
    const [, result, name, list] = m;
    const params: CParam[] = [];
    const items = list.trim() === "" || list.trim() === "void" ? [] : list.split(",");
    for (const item of items) {
      const p = /^(.*?)(\w+)$/.exec(item.trim().replace(/\s+/g, " "));
      // A trailing word after a type (not after '*' alone) is the name.
      if (p && p[1].trim() !== "" && !/^(const|unsigned|signed)$/.test(p[1].trim())) {
        params.push({ type: normalise(p[1]), name: p[2] });
      } else {
        params.push({ type: normalise(item), name: "" });
      }
    }
    if (functions.has(name)) problems.push(`${name} is declared twice`);
    functions.set(name, { name, result: normalise(result), params });
  }
  return {
    functions,
    enums,
    opaque,
    abiVersion: version ? Number(version[1]) : undefined,
    problems,
  };
}

const SCALARS: Readonly<Record<string, string>> = {
  int8_t: "i8",
  uint8_t: "u8",
  int16_t: "i16",
  uint16_t: "u16",
  int32_t: "i32",
  uint32_t: "u32",
  int64_t: "i64",
  uint64_t: "u64",
  size_t: "usize",
  float: "f32",
  double: "f64",
};

/**
 * The Deno FFI types a C type may be declared as: `role` "param" or
 * "result". Null when the check does not know the C type.
 */
export function ffiTypesFor(
  cType: string,
  role: "param" | "result",
  opaque: ReadonlySet<string>,
): string[] | null {
  const stars = (cType.match(/\*/g) ?? []).length;
  const base = cType.replace(/\bconst\b/g, "").replace(/\*/g, "").trim();
  if (stars > 0) {
    if (role === "result") return ["pointer"];
    // A handle goes as the pointer it is; data (arrays, out-slots, strings) as a buffer or a pointer.
    if (stars === 1 && opaque.has(base)) return ["pointer"];
    return ["buffer", "pointer"];
  }
  if (base === "void") return role === "result" ? ["void"] : null;
  const scalar = SCALARS[base];
  return scalar === undefined ? null : [scalar];
}

function snakeToCamel(name: string): string {
  return name.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Compares a parsed header with the TypeScript side; returns the differences (none: they agree). */
export function compareAbi(header: ParsedHeader, ts: TsAbi): string[] {
  const out = [...header.problems];
  if (header.abiVersion === undefined) {
    out.push("lade.h defines no LADE_ABI_VERSION");
  } else if (header.abiVersion !== ts.abiVersion) {
    out.push(
      `ABI version: lade.h LADE_ABI_VERSION is ${header.abiVersion}, ffi.ts ABI_VERSION is ${ts.abiVersion}`,
    );
  }
  for (const fn of header.functions.values()) {
    const sym = ts.symbols[fn.name];
    const signature = `${fn.result} ${fn.name}(${
      fn.params.map((p) => `${p.type} ${p.name}`.trim()).join(", ")
    })`;
    if (sym === undefined) {
      out.push(`${fn.name}: declared in lade.h (${signature}) but missing from ffi.ts`);
      continue;
    }
    const result = ffiTypesFor(fn.result, "result", header.opaque);
    if (result === null) {
      out.push(`${fn.name}: result type ${fn.result} has no known FFI type`);
    } else if (!result.includes(String(sym.result))) {
      out.push(
        `${fn.name}: result is ${fn.result} in lade.h (FFI ${
          result.map((t) => `"${t}"`).join(" or ")
        }), ffi.ts has "${sym.result}"`,
      );
    }
    if (fn.params.length !== sym.parameters.length) {
      out.push(
        `${fn.name}: lade.h has ${fn.params.length} parameters, ffi.ts ${sym.parameters.length}` +
          ` (lade.h: ${signature}; ffi.ts: [${sym.parameters.map((p) => `"${p}"`).join(", ")}])`,
      );
      continue;
    }
    fn.params.forEach((p, i) => {
      const allowed = ffiTypesFor(p.type, "param", header.opaque);
      const actual = String(sym.parameters[i]);
      const label = `${fn.name}, parameter ${i + 1}${p.name ? ` (${p.name})` : ""}`;
      if (allowed === null) {
        out.push(`${label}: C type ${p.type} has no known FFI type`);
      } else if (!allowed.includes(actual)) {
        out.push(
          `${label}: lade.h ${p.type} (FFI ${
            allowed.map((t) => `"${t}"`).join(" or ")
          }), ffi.ts has "${actual}"`,
        );
      }
    });
  }
  for (const name of Object.keys(ts.symbols)) {
    if (!header.functions.has(name)) out.push(`${name}: in ffi.ts but not declared in lade.h`);
  }
  for (const [tag, entries] of header.enums) {
    const table = ts.enums[tag];
    if (table === undefined) {
      out.push(`enum ${tag}: in lade.h but no table in ops.ts NATIVE_ENUMS`);
      continue;
    }
    const seen = new Set<string>();
    for (const [cName, value] of entries) {
      if (!cName.startsWith(table.prefix)) {
        out.push(`enum ${tag}: ${cName} does not start with the prefix ${table.prefix}`);
        continue;
      }
      const key = snakeToCamel(cName.slice(table.prefix.length));
      seen.add(key);
      if (!Object.hasOwn(table.codes, key)) {
        out.push(`enum ${tag}: ${cName} = ${value} in lade.h, no '${key}' in ops.ts`);
      } else if (table.codes[key] !== value) {
        out.push(
          `enum ${tag}: ${cName} is ${value} in lade.h, ops.ts '${key}' is ${table.codes[key]}`,
        );
      }
    }
    for (const [key, value] of Object.entries(table.codes)) {
      if (!seen.has(key)) {
        out.push(`enum ${tag}: ops.ts '${key}' = ${value} has no entry in lade.h`);
      }
    }
  }
  for (const tag of Object.keys(ts.enums)) {
    if (!header.enums.has(tag)) out.push(`enum ${tag}: in ops.ts NATIVE_ENUMS but not in lade.h`);
  }
  return out;
}

/**
 * Compares the functions `LADE_EXTERN` defines in the native sources (file
 * name to text) with those the header declares.
 */
export function compareDefinitions(
  header: ParsedHeader,
  sources: ReadonlyMap<string, string>,
): string[] {
  const out: string[] = [];
  const defined = new Map<string, string>();
  for (const [file, text] of sources) {
    for (const m of stripComments(text).matchAll(/LADE_EXTERN\s+[^;(]*?\b(lade_\w+)\s*\(/g)) {
      if (defined.has(m[1])) out.push(`${m[1]}: defined in ${defined.get(m[1])} and ${file}`);
      defined.set(m[1], file);
    }
  }
  for (const [name, file] of defined) {
    if (!header.functions.has(name)) {
      out.push(`${name}: defined in ${file}, not declared in lade.h`);
    }
  }
  for (const name of header.functions.keys()) {
    if (!defined.has(name)) out.push(`${name}: declared in lade.h, defined in no native source`);
  }
  return out;
}

/** Runs every comparison on the files of this checkout (or another header); returns the differences. */
export async function checkRepository(
  headerPath = new URL("../native/include/lade.h", import.meta.url).pathname,
): Promise<string[]> {
  const { ABI_VERSION, symbols } = await import("../lib/torch/ffi.ts");
  const { NATIVE_ENUMS } = await import("../lib/torch/ops.ts");
  const header = parseHeader(await Deno.readTextFile(headerPath));
  const src = new URL("../native/src/", import.meta.url).pathname;
  const sources = new Map<string, string>();
  for await (const entry of Deno.readDir(src)) {
    if (entry.isFile && /\.(cpp|h)$/.test(entry.name)) {
      sources.set(`native/src/${entry.name}`, await Deno.readTextFile(src + entry.name));
    }
  }
  return [
    ...compareAbi(header, { symbols, enums: NATIVE_ENUMS, abiVersion: ABI_VERSION }),
    ...compareDefinitions(header, sources),
  ];
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--header");
  const headerPath = i >= 0 ? Deno.args[i + 1] : undefined;
  const differences = await checkRepository(headerPath);
  if (differences.length > 0) {
    console.error(
      `ABI check failed: ${headerPath ?? "native/include/lade.h"} and lib/torch/ffi.ts, ` +
        `lib/torch/ops.ts or native/src differ (${differences.length}):`,
    );
    for (const d of differences) console.error(`  - ${d}`);
    Deno.exit(1);
  }
  console.log("ABI check: lade.h, ffi.ts, ops.ts and native/src agree");
}
