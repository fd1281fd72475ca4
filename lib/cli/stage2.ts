/**
 * `lade stage2 --run DIR --method tau-norm|lws --out DIR2 [--tau T]
 * [--epochs E] [--lr X] [--batch-size B] [--device D]`: a decoupled second
 * stage on a trained run's classifier, written as a new run (see
 * lib/train/stage2.ts). cRT is `train --init RUN --init-skip head --freeze
 * backbone --sampler balanced`.
 *
 * @module
 */

import { plural } from "../plural.ts";
import { checkDevice } from "../torch/device.ts";
import { runStage2 } from "../train/stage2.ts";
import { printWarning, UsageError } from "./errors.ts";
import { setPhase } from "./signals.ts";

/** `stage2` flags, as commander hands them over. */
export interface Stage2CommandOptions {
  run?: string;
  method?: string;
  out?: string;
  tau?: string;
  epochs?: string;
  lr?: string;
  batchSize?: string;
  device?: string;
}

function num(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n)) {
    throw new UsageError(`invalid ${flag} '${text}': expected a number`);
  }
  return n;
}

/** Runs `stage2`. */
export async function stage2Command(o: Stage2CommandOptions): Promise<void> {
  if (o.run === undefined || o.out === undefined) {
    throw new UsageError("stage2 needs --run DIR (the first stage) and --out DIR (the new run)");
  }
  if (o.method !== "tau-norm" && o.method !== "lws") {
    throw new UsageError(`invalid --method '${o.method ?? ""}': use tau-norm or lws`);
  }
  if (o.method === "tau-norm" && (o.epochs !== undefined || o.lr !== undefined)) {
    throw new UsageError("--epochs and --lr go with --method lws");
  }
  if (o.method === "lws" && o.tau !== undefined) {
    throw new UsageError("--tau goes with --method tau-norm");
  }
  setPhase({
    doing: `the second stage (${o.method}) of ${o.run}`,
    intact:
      `${o.run} is untouched and ${o.out} was not written (it is written whole or not at all)`,
  });
  const record = await runStage2({
    from: o.run,
    out: o.out,
    method: o.method,
    tau: num("--tau", o.tau),
    epochs: num("--epochs", o.epochs),
    lr: num("--lr", o.lr),
    batchSize: num("--batch-size", o.batchSize),
    device: o.device === undefined ? "cpu" : checkDevice(o.device),
    onProgress: (line) => console.log(line),
    onWarning: printWarning,
  });
  const what = record.method === "tau-norm"
    ? `tau ${record.tau}${record.selection ? ", chosen on the validation split" : ""}`
    : plural(record.epochs ?? 0, "epoch");
  console.log(
    `wrote ${o.out}: ${record.method} (${what}) of ${o.run}; evaluate it with --run ${o.out}`,
  );
}
