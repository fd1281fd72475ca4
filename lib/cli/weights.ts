/**
 * `lade weights export RUN --out F.safetensors` and `lade weights inspect F
 * [--json]`: a run's model weights as safetensors (torchvision's names for
 * the torchvision architectures, lade's metadata), and what a weights file
 * (safetensors or a PyTorch state dict) holds.
 *
 * @module
 */

import { datasetInput } from "../data/mod.ts";
import { bestOf, loadCheckpoint, MANIFEST, readManifest } from "../run/checkpoint.ts";
import { modelFromManifest } from "../run/run_model.ts";
import { checkpointOf } from "./inputs.ts";
import { manifestLogitPrior } from "../eval/logit_prior.ts";
import { DTYPE_BYTES } from "../torch/dtype.ts";
import { exportWeights, readWeightsFile } from "../weights/model_weights.ts";
import { exportPytorch, pytorchExportFiles } from "../weights/pytorch_export.ts";
import { weightsPredictor } from "../predict/inputs.ts";
import { printable, UsageError } from "./errors.ts";
import { checkOutputFile } from "./outputs.ts";

/** `weights export` flags. */
export interface WeightsExportOptions {
  out?: string;
  /** last (default) or best. */
  checkpoint?: string;
  /** safetensors (default) or pytorch (a torch.save state dict and a module file). */
  format?: string;
  /** Replace an existing --out file (never one a run manages). */
  force?: boolean;
}

/** Writes the run's latest (or best) model weights to `--out` as safetensors or for PyTorch. */
export async function weightsExportCommand(runDir: string, o: WeightsExportOptions): Promise<void> {
  const format = o.format ?? "safetensors";
  if (format !== "safetensors" && format !== "pytorch") {
    throw new UsageError(`--format: must be safetensors or pytorch, got '${format}'`);
  }
  if (o.out === undefined) {
    throw new UsageError(
      format === "pytorch"
        ? "weights export --format pytorch needs --out DIR (or FILE.pt)"
        : "weights export needs --out FILE.safetensors",
    );
  }
  // Never over a file a run manages; over another existing file only with --force.
  const outputs = format === "pytorch" ? Object.values(pytorchExportFiles(o.out)) : [o.out];
  for (const f of outputs) await checkOutputFile(f, { flag: "--out", force: o.force });
  const m = await readManifest(runDir).catch((e) => {
    if (e instanceof Deno.errors.NotADirectory || e instanceof Deno.errors.NotFound) return null;
    throw e;
  });
  if (m === null) throw new UsageError(`${runDir} has no checkpoint (${MANIFEST}); train it first`);
  const which = checkpointOf(o);
  const epoch = which === "best" ? bestOf(m, runDir).epoch : m.epoch;
  using model = modelFromManifest(m);
  await loadCheckpoint(runDir, model, undefined, false, which);
  const spec = datasetInput(m.config.dataset.name, {
    imageSize: m.config.dataset.image_size,
    mean: m.config.dataset.mean,
    std: m.config.dataset.std,
  });
  const metadata = {
    arch: m.arch,
    classes: m.classes,
    inChannels: m.inChannels,
    head: m.config.model.head,
    scale: m.config.model.head === "cosine" ? m.config.model.scale : undefined,
    classNames: m.classNames,
    trainCounts: m.trainCounts,
    logitPrior: manifestLogitPrior(m),
    method: m.config.method.name,
    dataset: m.config.dataset.name,
    epoch,
    imageSize: spec.imageSize,
    mean: spec.mean,
    std: spec.std,
  };
  const what = `${m.arch}, ${m.classes} classes, ${model.numParams} parameters, epoch ${epoch}` +
    (which === "best" ? " (the best by validation top-1)" : "");
  if (format === "pytorch") {
    const files = await exportPytorch(model, o.out, metadata);
    console.log(`wrote ${files.weights} and ${files.module}: ${what}`);
    const name = files.module.replace(/^.*\//, "").replace(/\.py$/, "");
    console.log(`in PyTorch: import ${name}; net = ${name}.load()   (run beside ${files.module})`);
    return;
  }
  await exportWeights(model, o.out, metadata);
  console.log(`wrote ${o.out}: ${what}`);
}

/** `weights convert` flags. */
export interface WeightsConvertOptions {
  out?: string;
  arch?: string;
  classes?: string;
  /** Replace an existing --out file (never one a run manages). */
  force?: boolean;
}

/**
 * Loads a weights file (a PyTorch state dict, or safetensors) into a lade
 * model, strictly, and writes the model's weights as safetensors with lade's
 * metadata: what lade holds, under the names it gives them.
 */
export async function weightsConvertCommand(path: string, o: WeightsConvertOptions): Promise<void> {
  if (o.out === undefined) throw new UsageError("weights convert needs --out FILE.safetensors");
  const classes = o.classes === undefined ? undefined : Number(o.classes);
  if (classes !== undefined && !(Number.isInteger(classes) && classes >= 1)) {
    throw new UsageError(`invalid --classes '${o.classes}': expected a positive integer`);
  }
  await checkOutputFile(o.out, { flag: "--out", force: o.force });
  const p = await weightsPredictor(path, { arch: o.arch, classes });
  try {
    await exportWeights(p.model, o.out, {
      arch: p.model.arch,
      classes: p.model.classes,
      inChannels: p.channels,
      head: p.head,
      scale: p.head === "cosine" ? p.scale : undefined,
      classNames: p.classNames,
      ...(p.trainCounts ? { trainCounts: p.trainCounts } : {}),
      ...(p.logitPrior ? { logitPrior: p.logitPrior } : {}),
      method: p.method,
      imageSize: p.imageSize,
      mean: p.mean,
      std: p.std,
    });
    console.log(
      `wrote ${o.out}: ${p.model.arch}, ${p.model.classes} classes, ${p.model.numParams} parameters`,
    );
  } finally {
    p.dispose();
  }
}

/** `weights inspect` flags. */
export interface WeightsInspectOptions {
  json?: boolean;
}

/** Prints a weights file's tensors (name, dtype, shape) and metadata. */
export async function weightsInspectCommand(path: string, o: WeightsInspectOptions): Promise<void> {
  const file = await readWeightsFile(path);
  const tensors = [...file.tensors].map(([name, t]) => ({
    name,
    dtype: t.dtype,
    shape: t.shape,
  }));
  const elements = [...file.tensors.values()].reduce(
    (sum, t) => sum + t.shape.reduce((a, b) => a * b, 1),
    0,
  );
  const bytes = [...file.tensors.values()].reduce(
    (sum, t) => sum + t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype],
    0,
  );
  if (o.json) {
    console.log(JSON.stringify({
      file: path,
      format: file.format,
      metadata: file.rawMetadata,
      tensors,
      count: tensors.length,
      elements,
      bytes,
    }));
    return;
  }
  const lines = [
    `${path}: ${file.format}, ${tensors.length} tensors, ${elements} elements, ${bytes} bytes`,
  ];
  // Names and metadata come from the file: printed without control characters.
  for (const [k, v] of Object.entries(file.rawMetadata)) {
    lines.push(`  ${k}: ${v.length > 100 ? `${v.slice(0, 100)}...` : v}`);
  }
  // A loop, not Math.max(...names): a file of 300,000 tensors overflows a spread.
  let width = 0;
  for (const t of tensors) width = Math.max(width, Math.min(60, t.name.length));
  for (const t of tensors) {
    lines.push(`${t.name.padEnd(width)}  ${t.dtype.padEnd(8)}  [${t.shape.join(", ")}]`);
  }
  // One write: a line at a time is slow for a file of 300,000 tensors.
  console.log(lines.map(printable).join("\n"));
}
