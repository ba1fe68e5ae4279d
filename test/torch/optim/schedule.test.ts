// Learning-rate schedules: the formulas at the boundaries, validation, and applying them to an
// optimizer's param groups (with per-group lrScale).
import * as torch from '../../../src/torch';
import { nn } from '../../../src/torch';

const { warmupCosine, warmupLinear, warmupDecay, constantLr, scheduleFromConfig, applyLrSchedule, setLr } = torch.optim;

describe('schedules', () => {
  test('warm-up rises linearly to the peak, reached at step warmupSteps - 1', () => {
    const s = warmupCosine({ peakLr: 1e-3, warmupSteps: 4, totalSteps: 20 });
    expect([0, 1, 2, 3].map(s)).toEqual([0.25e-3, 0.5e-3, 0.75e-3, 1e-3]);
    expect(s(4)).toBe(1e-3); // the decay starts at the peak
  });

  test('cosine: halfway between peak and floor at mid-decay, the floor at totalSteps and after', () => {
    const s = warmupCosine({ peakLr: 1, warmupSteps: 10, totalSteps: 110, minLr: 0.1 });
    expect(s(60)).toBeCloseTo(0.55, 12);
    expect(s(35)).toBeCloseTo(0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(s(110)).toBeCloseTo(0.1, 12);
    expect(s(10_000)).toBeCloseTo(0.1, 12);
    for (let step = 10; step < 110; step++) expect(s(step + 1)).toBeLessThan(s(step)); // strictly decreasing
  });

  test('linear decay and constant', () => {
    const lin = warmupLinear({ peakLr: 2, totalSteps: 10, minLr: 1 });
    expect([0, 5, 10, 11].map(lin)).toEqual([2, 1.5, 1, 1]);
    const c = constantLr(3, { warmupSteps: 3 });
    expect([0, 1, 2, 3, 1000].map(c)).toEqual([1, 2, 3, 3, 3]);
    expect(constantLr(0.5)(0)).toBe(0.5);
  });

  test('config describes the schedule completely and rebuilds it', () => {
    const s = warmupDecay({ peakLr: 0.01, warmupSteps: 5, totalSteps: 50, decay: 'linear', minLr: 0.001 });
    expect(s.config).toEqual({ peakLr: 0.01, warmupSteps: 5, totalSteps: 50, decay: 'linear', minLr: 0.001 });
    const rebuilt = scheduleFromConfig(JSON.parse(JSON.stringify(s.config)));
    for (let step = 0; step < 60; step++) expect(rebuilt(step)).toBe(s(step));
    expect(Object.isFrozen(s.config)).toBe(true);
  });

  test('invalid settings and steps are refused', () => {
    expect(() => warmupCosine({ peakLr: -1, totalSteps: 10 })).toThrow(/peakLr must be a finite number >= 0, got -1/);
    expect(() => warmupCosine({ peakLr: 1, totalSteps: 10, warmupSteps: 11 })).toThrow(
      /warmupSteps \(11\) exceeds totalSteps \(10\)/,
    );
    expect(() => warmupCosine({ peakLr: 1, totalSteps: 10, minLr: 2 })).toThrow(/minLr \(2\) is above peakLr \(1\)/);
    expect(() => warmupCosine({ peakLr: 1, totalSteps: 2.5 })).toThrow(/totalSteps must be a finite integer/);
    expect(() => warmupDecay({ peakLr: 1, totalSteps: 10, decay: 'step' as any })).toThrow(
      /decay must be 'cosine', 'linear' or 'constant'/,
    );
    const s = constantLr(1);
    expect(() => s(-1)).toThrow(/step must be an integer >= 0, got -1/);
    expect(() => s(0.5)).toThrow(/step must be an integer/);
    expect(() => scheduleFromConfig(null as any)).toThrow(/config must be an object/);
  });
});

describe('applying a schedule', () => {
  test('sets each group to the scheduled rate times its lrScale and returns the rate', () => {
    const a = torch.scope(() => new nn.Parameter(torch.ones([2])));
    const b = torch.scope(() => new nn.Parameter(torch.ones([2])));
    using opt = new torch.optim.AdamW([{ params: [a] }, { params: [b], lrScale: 0.1 }]);
    const s = warmupLinear({ peakLr: 1, warmupSteps: 2, totalSteps: 4 });
    expect(applyLrSchedule(opt, s, 0)).toBe(0.5);
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.5, 0.05]);
    opt.paramGroups[1].lrScale = 2;
    applyLrSchedule(opt, s, 3);
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.5, 1]);
    setLr(opt, 0.25);
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.25, 0.5]);
    expect(() => setLr(opt, NaN)).toThrow(/lr must be a finite number/);
    a.dispose();
    b.dispose();
  });
});
