/**
 * The Python with PyTorch that some tests compare against when it is there
 * (Debian's python3-torch; LADE_TEST_PYTHON names another). `deno task test`
 * installs it (scripts/setup.sh --test), so these run in CI; a test that
 * needs it is skipped where it is missing (tests run by hand on a machine
 * set up for training only), and each has a check beside it that needs no
 * Python.
 *
 * @module
 */

/** Runs `python -c code`; stdout, stderr and the exit code. */
async function run(
  python: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(python, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** findPython's answers in this process, by module list (a shard runs many files). */
const found = new Map<string, Promise<string | undefined>>();

/**
 * The first of LADE_TEST_PYTHON, /usr/bin/python3 and python3 that has
 * `modules` (default torch), or undefined. It looks them up without
 * importing them (importlib's find_spec: importing torch costs a CPU-second
 * a time), once per process.
 */
export function findPython(modules = ["torch"]): Promise<string | undefined> {
  const key = modules.join(",");
  if (!found.has(key)) found.set(key, lookUp(modules));
  return found.get(key)!;
}

async function lookUp(modules: string[]): Promise<string | undefined> {
  const env = Deno.env.get("LADE_TEST_PYTHON");
  const code = "import importlib.util, sys\n" +
    "sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) else 1)";
  for (const python of env ? [env] : ["/usr/bin/python3", "python3"]) {
    try {
      const r = await run(python, ["-c", code, ...modules]);
      if (r.code === 0) return python;
    } catch {
      // not installed: the next
    }
  }
  return undefined;
}

/** Runs a Python script file with arguments; throws with its stderr when it fails. */
export async function runPython(python: string, script: string, args: string[]): Promise<string> {
  const r = await run(python, [script, ...args]);
  if (r.code !== 0) throw new Error(`${script} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs Python source (`python -c`) with arguments (sys.argv[1:]); its stdout. */
export async function runPythonCode(python: string, code: string, args: string[]): Promise<string> {
  const r = await run(python, ["-c", code, ...args]);
  if (r.code !== 0) throw new Error(`python failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}
