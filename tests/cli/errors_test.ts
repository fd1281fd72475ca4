import assert from "node:assert/strict";
import { buildProgram } from "../../main.ts";
import {
  describeError,
  describeWarning,
  guardTerminalOutput,
  printable,
  UsageError,
} from "../../lib/cli/errors.ts";
import { flagOf, PARAMETER_FLAGS } from "../../lib/cli/flags.ts";
import { InputError, LadeError, TorchError } from "../../lib/errors.ts";

Deno.test("library parameters are said as the flags that set them", () => {
  assert.equal(
    describeError(new InputError("batchSize", "must be a positive integer, got 0")),
    "--batch-size: must be a positive integer, got 0",
  );
  assert.equal(
    describeError(new InputError("train.batch_size", "300 is larger than the training set")),
    "--batch-size: 300 is larger than the training set",
  );
  // Parameters mentioned in backticks become flags too; unknown ones stay as they are.
  assert.equal(
    describeError(new InputError("missing data file /x (pass `root`; see `dataset.root`)")),
    "missing data file /x (pass --root; see `dataset.root`)",
  );
  // A parameter no flag sets keeps its name.
  assert.equal(
    describeError(new InputError("dataset.root", "not a folder")),
    "dataset.root: not a folder",
  );
  // Other errors: their first line, untouched.
  assert.equal(
    describeError(new TorchError("forward", "shape `x` mismatch\nat ...")),
    "forward: shape `x` mismatch",
  );
  assert.equal(describeError("plain"), "plain");
});

Deno.test("the library's other errors say parameters in backticks as their flags too", () => {
  assert.equal(
    describeError(new LadeError("lws diverged (learning rate 10); lower `lr`")),
    "lws diverged (learning rate 10); lower --lr",
  );
  // Not the library's: as it is.
  assert.equal(describeError(new Error("lower `lr`")), "lower `lr`");
});

Deno.test("library warnings say parameters in backticks as their flags", () => {
  assert.equal(
    describeWarning("`model.init` w.pth: not in the model (ignored): a, b\nsecond line"),
    "--init w.pth: not in the model (ignored): a, b",
  );
  assert.equal(
    describeWarning("`dataset.root` and `nothing.like.it`"),
    "`dataset.root` and `nothing.like.it`",
  );
  assert.equal(
    describeWarning("took over the lock of r\u001b[2J"),
    "took over the lock of r\ufffd[2J",
  );
});

Deno.test("UsageError is the command line's InputError", () => {
  const e = new UsageError("--lr cannot be combined with --resume");
  assert.ok(e instanceof InputError && e instanceof LadeError);
  assert.equal(e.name, "UsageError");
  assert.equal(describeError(e), "--lr cannot be combined with --resume");
});

Deno.test("the flag table names real flags", () => {
  // Every flag of every command of the command tree.
  const flags = new Set<string>();
  type Node = { options: readonly { long?: string }[]; commands: readonly Node[] };
  const walk = (c: Node) => {
    for (const o of c.options) if (o.long) flags.add(o.long);
    c.commands.forEach(walk);
  };
  walk(buildProgram());
  for (const [parameter, flag] of Object.entries(PARAMETER_FLAGS)) {
    assert.match(flag, /^--[a-z][a-z-]*$/, parameter);
    assert.ok(flags.has(flag), `${flag} (for ${parameter}) is no flag of any command`);
  }
  assert.equal(flagOf("toString"), undefined);
});

Deno.test("messages quoting file contents cannot send escape sequences to the terminal", () => {
  const e = new InputError("list.txt:1: expected 'relative/path label', got 'a\u001b[2J\u0007b'");
  assert.equal(
    describeError(e),
    "list.txt:1: expected 'relative/path label', got 'a\ufffd[2J\ufffdb'",
  );
  assert.equal(describeError(new Error("tab\tand\rreturn")), "tab\tand\ufffdreturn");
});

Deno.test("file-system errors are said in a user's words, without temporary names", () => {
  assert.equal(
    describeError(
      new Deno.errors.NotFound(
        "No such file or directory (os error 2): open '/out/nodir/w.safetensors.27864.tmp'",
      ),
    ),
    "cannot open /out/nodir/w.safetensors: no such file or directory",
  );
  assert.equal(
    describeError(new Deno.errors.AlreadyExists("File exists (os error 17): mkdir '/r/file'")),
    "cannot make the folder /r/file: file exists",
  );
  assert.equal(
    describeError(
      new InputError(
        "cannot make the run folder /proc/x: No such file or directory (os error 2): mkdir '/proc/x'",
      ),
    ),
    "cannot make the run folder /proc/x: No such file or directory",
  );
});

Deno.test("a failed rename names the file being written", () => {
  assert.equal(
    describeError(
      new Error("Is a directory (os error 21): rename '/out/logits.npy.28937.tmp' -> '/out/dir'"),
    ),
    "cannot write /out/dir: is a directory",
  );
});

Deno.test("weights inspect prints a file's names and metadata without control characters", async () => {
  const { encodeSafetensors } = await import("../../lib/weights/safetensors.ts");
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/evil.safetensors`;
    await Deno.writeFile(
      path,
      encodeSafetensors(
        [["w\u001b[2J", { dtype: "uint8", shape: [2], data: new Uint8Array([1, 2]) }]],
        { note: "hi\u001b]0;pwned\u0007" },
      ),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../main.ts", import.meta.url).pathname,
        "weights",
        "inspect",
        path,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(text, /[\u0000-\u0008\u000b-\u001f\u007f]/);
    assert.match(text, /note: hi\ufffd\]0;pwned\ufffd/);
    assert.match(text, /w\ufffd\[2J/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stage2's tau is said as its flag", () => {
  assert.equal(
    describeError(new InputError("tau", "must be >= 0, got -1")),
    "--tau: must be >= 0, got -1",
  );
});

Deno.test("a flag the user did not give is not blamed: the key and its file are named", async () => {
  const e = new InputError("train.batch_size", "300 is larger than the training set");
  // Given on the command line: the flag.
  assert.equal(
    describeError(e, ["train", "--batch-size", "300"]),
    "--batch-size: 300 is larger than the training set",
  );
  assert.equal(
    describeError(e, ["train", "--batch-size=300"]),
    "--batch-size: 300 is larger than the training set",
  );
  // From a recipe that sets it, a resumed run's config, or the default.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/r.yaml`, "train:\n  batch_size: 300\n");
    await Deno.writeTextFile(`${dir}/other.yaml`, "train:\n  epochs: 3\n");
    assert.equal(
      describeError(e, ["train", "--config", `${dir}/r.yaml`]),
      `${dir}/r.yaml: train.batch_size: 300 is larger than the training set (--batch-size sets it)`,
    );
    assert.equal(
      describeError(e, ["train", "--config", `${dir}/other.yaml`]),
      "the default recipe: train.batch_size: 300 is larger than the training set " +
        "(--batch-size sets it)",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(
    describeError(e, ["train", "--resume", "runs/x/"]),
    "runs/x/config.yaml: train.batch_size: 300 is larger than the training set (--batch-size sets it)",
  );
  // A library parameter keeps its flag: it is what supplies a missing value.
  assert.equal(
    describeError(new InputError("root", "mnist needs a folder"), ["data", "inspect"]),
    "--root: mnist needs a folder",
  );
});

Deno.test("bidirectional controls and lone surrogates are unprintable too; output is escaped", () => {
  assert.equal(
    printable("evil\u202egpj.exe \u2066x\u2069 caf\udce9"),
    "evil\ufffdgpj.exe \ufffdx\ufffd caf\ufffd",
  );
  // A surrogate pair (an emoji) is one character, kept.
  assert.equal(printable("\u{1f600}"), "\u{1f600}");
  const printed: string[] = [];
  const log = console.log, error = console.error;
  console.log = (...args: unknown[]) => printed.push(String(args[0]));
  try {
    guardTerminalOutput();
    console.log(`names: a\u202eb \u001b[2J`);
    console.log(JSON.stringify({ name: "a\u202eb\u0085" }));
  } finally {
    console.log = log;
    console.error = error;
  }
  assert.equal(printed[0], "names: a\\u202eb \\u001b[2J");
  // In JSON, the escape means the same string.
  assert.deepEqual(JSON.parse(printed[1]), { name: "a\u202eb\u0085" });
});
