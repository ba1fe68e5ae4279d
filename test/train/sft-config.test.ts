// Phase-1 configuration: the warm-up can never break a run, and config.json states the effective one.
import { effectiveWarmup, resolveSftConfig, SFT_DEFAULTS } from '../../src/train/sft';
import { formatDiagnostics, type SftDiagnostics } from '../../src/train/sft-eval';

const base = { model: 'm', data: 'd', out: 'o' };

describe('warm-up', () => {
  test('by default a ratio of the steps, rounded; any number of steps works', () => {
    expect(SFT_DEFAULTS.warmupRatio).toBe(0.05);
    expect(resolveSftConfig({ ...base, steps: 4 }).warmupSteps).toBe(0);
    expect(resolveSftConfig({ ...base, steps: 1 }).warmupSteps).toBe(0);
    expect(resolveSftConfig({ ...base, steps: 1000 }).warmupSteps).toBe(50);
    expect(resolveSftConfig({ ...base, steps: 30, warmupRatio: 0.5 }).warmupSteps).toBe(15);
  });
  test('a given warm-up is clamped to the run', () => {
    expect(resolveSftConfig({ ...base, steps: 4, warmupSteps: 50 }).warmupSteps).toBe(4);
    expect(resolveSftConfig({ ...base, steps: 400, warmupSteps: 50 }).warmupSteps).toBe(50);
    expect(effectiveWarmup(0, 0.3, 10)).toBe(0);
  });
  test('nonsense is refused by name', () => {
    expect(() => effectiveWarmup(-1, 0.05, 10)).toThrow(/warmupSteps must be a non-negative integer, got -1/);
    expect(() => effectiveWarmup(undefined, 1.5, 10)).toThrow(/warmupRatio must lie in \[0, 1\], got 1.5/);
  });
});

describe('k = 0 runs have no "with latents" accuracy', () => {
  const diagnostics = (latents: number): SftDiagnostics =>
    ({
      step: 4,
      latents,
      latentInterface: { latentInput: { kind: 'affine' }, mode: 'full', coupling: 'shared-kv', freezeMarkers: false },
      test: { loss: 1, nextStepLoss: 1, resultLoss: 1, stepLoss: 1, startPrecision: 0, startRecall: 0, startF1: 0, examples: 4 },
      ablations: [],
      study: null,
      decoded: [],
      recurring: [],
      resultHitRate: 0,
      accuracy: { withLatents: 0.25, withoutLatents: 0.5, n: 4, spansPerAnswer: 0, spansAwayFromBreakpoints: 0, paired: {} },
      spanLengths: {},
      samples: [],
      start: { precision: 0, recall: 0, f1: 0 },
      norms: { latent: 1, token: 1 },
    }) as unknown as SftDiagnostics;
  test('the terminal summary', () => {
    const k0 = formatDiagnostics(diagnostics(0));
    expect(k0).toContain('answer accuracy (greedy, 4 questions): 50.0%; with latents — (k = 0)');
    expect(k0).not.toContain('25.0%');
    expect(formatDiagnostics(diagnostics(2))).toContain('spans by the start classifier 25.0%, no spans 50.0%');
  });
});
