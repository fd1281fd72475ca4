/**
 * Learning-rate schedules, evaluated once per epoch as the paper's recipes
 * do: an optional linear warm-up from a fraction of the rate, then either
 * multi-step (the rate times a factor from each milestone on) or cosine
 * annealing to zero over the run.
 *
 * CIFAR recipe: warm-up from lr/3 over 5 epochs, x0.01 from epoch 120,
 * x0.0001 from epoch 160 (`{ type: "multistep", warmup_epochs: 5,
 * warmup_from: 1/3, milestones: [120, 160], factors: [0.01, 0.0001] }`).
 * ImageNet-LT: `{ type: "cosine" }`. Places-LT (the paper's fine-tuning):
 * StepLR(10, 0.1), `{ type: "step", step_size: 10, gamma: 0.1 }`.
 *
 * @module
 */

/** A schedule as the configs spell it. */
export interface ScheduleConfig {
  /** multistep, cosine, constant, or step (StepLR). */
  type: "multistep" | "cosine" | "constant" | "step";
  /** Epochs of linear warm-up (0: none). */
  warmup_epochs: number;
  /** The warm-up starts at this fraction of the rate. */
  warmup_from: number;
  /** multistep: epochs (0-based) from which `factors` apply, increasing. */
  milestones: number[];
  /** multistep: the rate's multiplier from each milestone on (not cumulative). */
  factors: number[];
  /**
   * Count epochs as the official LADE code does: its scheduler steps at the
   * start of each epoch, so 0-based epoch e trains at the schedule's value
   * for e + 1 (warm-up 0.467, 0.6, 0.733, 0.867, 1.0 of the rate; the
   * milestones land one epoch earlier; a cosine run ends at 0). Default false.
   */
  step_at_epoch_start?: boolean;
  /** step: the rate is multiplied by `gamma` (default 0.1) every `step_size` (default 10) epochs. */
  step_size?: number;
  gamma?: number;
}

/**
 * The learning rate of `epoch0` (0-based) in a run of `epochs` epochs.
 * Warm-up: epoch e < W runs at lr * (from + (1 - from) * e / W), as the
 * linear warm-up of LADE's code; afterwards the schedule proper. With
 * `step_at_epoch_start`, e is epoch0 + 1 (the official code's counting).
 */
export function learningRate(
  s: ScheduleConfig,
  baseLr: number,
  epoch0: number,
  epochs: number,
): number {
  const epoch = s.step_at_epoch_start ? epoch0 + 1 : epoch0;
  if (epoch < s.warmup_epochs) {
    return baseLr * (s.warmup_from + (1 - s.warmup_from) * epoch / s.warmup_epochs);
  }
  switch (s.type) {
    case "constant":
      return baseLr;
    case "step": {
      // torch.optim.lr_scheduler.StepLR, counted from the end of warm-up.
      const steps = Math.floor((epoch - s.warmup_epochs) / (s.step_size ?? 10));
      return baseLr * Math.pow(s.gamma ?? 0.1, steps);
    }
    case "multistep": {
      let factor = 1;
      s.milestones.forEach((m, i) => {
        if (epoch >= m) factor = s.factors[i];
      });
      return baseLr * factor;
    }
    case "cosine": {
      // Annealed over the epochs after warm-up, reaching 0 after the last one.
      const span = Math.max(1, epochs - s.warmup_epochs);
      const t = (epoch - s.warmup_epochs) / span;
      return baseLr * 0.5 * (1 + Math.cos(Math.PI * t));
    }
  }
}
