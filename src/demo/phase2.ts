// Phase 2 is optional for the demo: it runs when src/rl/ is part of this build and skips with a note
// otherwise. The modules are looked up at run time, so the demo compiles and runs without them; the
// shapes below are the parts of src/rl/trainer.ts and src/rl/evaluate.ts the demo relies on.

export interface Phase2RunConfig {
  from: string;
  data: string;
  out: string;
  steps: number;
  questionsPerStep: number;
  group: number;
  lr: number;
  maxNewTokens: number;
  evalEvery: number;
  evalExamples: number;
  saveEvery: number;
  sampleEvery: number;
  samplesPerStep: number;
  device: string;
  seed: number;
}

interface Phase2Summary {
  steps: number;
  finalReward: number;
  stopped: 'completed' | 'interrupted' | 'non-finite';
  out: string;
}

interface Phase2Diagnostics {
  accuracy: { withLatents: number; withoutLatents: number; n: number };
  spansPerAnswer: number;
}

export interface Phase2Modules {
  resolveRlConfig(partial: Phase2RunConfig): unknown;
  trainRl(config: unknown, options: { quiet?: boolean }): Promise<Phase2Summary>;
  evaluateRlRun(runDir: string, options: { examples?: number; passK?: number; maxNewTokens?: number; quiet?: boolean }): Promise<Phase2Diagnostics>;
}

export type Phase2Availability = { available: true; modules: Phase2Modules } | { available: false; reason: string };

/** True when `error` says that `request` itself is missing (not a module it imports). */
function isMissing(error: unknown, request: string): boolean {
  const e = error as NodeJS.ErrnoException;
  return e?.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.includes(request);
}

/**
 * Loads phase 2 (src/rl/trainer and src/rl/evaluate) when present. A missing module or a module
 * without the expected functions is reported as unavailable; a module that exists but fails to load
 * is an error (it is broken, not absent).
 */
export function loadPhase2(): Phase2Availability {
  const load = (request: string): Record<string, unknown> | null => {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(request) as Record<string, unknown>;
    } catch (e) {
      if (isMissing(e, request)) return null;
      throw e;
    }
  };
  const trainer = load('../rl/trainer');
  if (!trainer) return { available: false, reason: 'phase 2 is not part of this build (no src/rl/trainer)' };
  const evaluate = load('../rl/evaluate');
  if (!evaluate) return { available: false, reason: 'phase 2 has no evaluation module (no src/rl/evaluate)' };
  const missing = [
    ...['resolveRlConfig', 'trainRl'].filter((name) => typeof trainer[name] !== 'function').map((name) => `rl/trainer.${name}`),
    ...(typeof evaluate.evaluateRlRun !== 'function' ? ['rl/evaluate.evaluateRlRun'] : []),
  ];
  if (missing.length) return { available: false, reason: `phase 2 does not export ${missing.join(', ')}` };
  return { available: true, modules: { ...(trainer as object), ...(evaluate as object) } as Phase2Modules };
}
