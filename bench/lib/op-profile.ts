// Where a step's time goes, operator by operator, ours beside PyTorch's: both sides profile the same
// steps with RecordFunction events (ours: torch.profiler, native/profiler.cc; theirs: torch.profiler's
// key_averages()), so a row is the same ATen operator or autograd node on both sides. Extra calls show
// work one side does that the other does not; a longer self time at equal calls shows a slower kernel
// or a worse layout.
import type { ProfilerEvent } from '../../src/torch/profiler';

/** One operator's totals as bench/python/harness.py's profile() reports them (microseconds). */
export interface OpProfileRow {
  name: string;
  count: number;
  selfCpuTimeTotal: number;
  cpuTimeTotal: number;
}

export function rowsOf(events: readonly ProfilerEvent[]): OpProfileRow[] {
  return events.map(({ name, count, selfCpuTimeTotal, cpuTimeTotal }) => ({ name, count, selfCpuTimeTotal, cpuTimeTotal }));
}

const perStep = (v: number, steps: number) => v / steps;
const ms = (us: number) => (us / 1000).toFixed(2);
const calls = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

/**
 * A markdown table per step: calls and self time on each side and their difference, the operators
 * with the largest self time on either side first (`rowLimit` rows), then the totals.
 */
export function opProfileTable(
  ours: readonly OpProfileRow[],
  theirs: readonly OpProfileRow[],
  steps: number,
  rowLimit = 30,
): string {
  const a = new Map(ours.map((r) => [r.name, r]));
  const b = new Map(theirs.map((r) => [r.name, r]));
  const selfOf = (m: Map<string, OpProfileRow>, n: string) => m.get(n)?.selfCpuTimeTotal ?? 0;
  const names = [...new Set([...a.keys(), ...b.keys()])].sort(
    (x, y) => Math.max(selfOf(a, y), selfOf(b, y)) - Math.max(selfOf(a, x), selfOf(b, x)) || x.localeCompare(y),
  );
  const lines = [
    '| operator | calls ours | calls PyTorch | self ms ours | self ms PyTorch | Δ ms (ours − PyTorch) |',
    '|---|--:|--:|--:|--:|--:|',
  ];
  for (const n of names.slice(0, rowLimit)) {
    const x = a.get(n);
    const y = b.get(n);
    const dx = perStep(x?.selfCpuTimeTotal ?? 0, steps);
    const dy = perStep(y?.selfCpuTimeTotal ?? 0, steps);
    lines.push(
      `| \`${n}\` | ${calls(perStep(x?.count ?? 0, steps))} | ${calls(perStep(y?.count ?? 0, steps))} | ${ms(dx)} | ${ms(dy)} | ${(dx - dy >= 0 ? '+' : '') + ms(dx - dy)} |`,
    );
  }
  const total = (rows: readonly OpProfileRow[]) =>
    perStep(
      rows.reduce((s, r) => s + r.selfCpuTimeTotal, 0),
      steps,
    );
  const count = (rows: readonly OpProfileRow[]) =>
    perStep(
      rows.reduce((s, r) => s + r.count, 0),
      steps,
    );
  const rest = names.length - Math.min(rowLimit, names.length);
  lines.push(
    `| **all ${names.length} operators**${rest ? ` (${rest} not shown)` : ''} | ${calls(count(ours))} | ${calls(count(theirs))} | ${ms(total(ours))} | ${ms(total(theirs))} | ${(total(ours) >= total(theirs) ? '+' : '') + ms(total(ours) - total(theirs))} |`,
  );
  return lines.join('\n');
}
