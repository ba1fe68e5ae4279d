/** Helpers shared by the GSM8K tests: the real data when present, JSONL text, structural invariants, a scratch directory. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseGsm8kAnswer, type Gsm8kExample, type ParsedSolution } from '../../../src/data/gsm8k';

const repoRoot = path.resolve(__dirname, '../../..');
export const gsm8kDir = process.env.GSM8K_DIR ?? path.resolve(repoRoot, '../shared/gsm8k');
const haveRealData = fs.existsSync(path.join(gsm8kDir, 'train.jsonl')) && fs.existsSync(path.join(gsm8kDir, 'test.jsonl'));
if (!haveRealData) {
  console.log(`Skipping real-GSM8K tests: no train.jsonl/test.jsonl in ${gsm8kDir} (set GSM8K_DIR to a directory that has them)`);
}
export const describeRealData = haveRealData ? describe : describe.skip;

export function parseOk(answer: string): ParsedSolution {
  const parsed = parseGsm8kAnswer(answer);
  if (!parsed.ok) throw new Error(`expected ${JSON.stringify(answer)} to parse, got ${parsed.reason}: ${parsed.detail}`);
  return parsed;
}

export function jsonl(...records: unknown[]): string {
  return records.map((record) => (typeof record === 'string' ? record : JSON.stringify(record))).join('\n') + '\n';
}

/** Violations of the structural invariants every parsed solution must satisfy (plain checks: fast on 8.8k records). */
export function structureProblems(parsed: Pick<Gsm8kExample, 'solution' | 'breakpoints' | 'steps'>): string[] {
  const problems: string[] = [];
  if (parsed.steps.length !== parsed.breakpoints.length + 1) problems.push('steps.length !== breakpoints.length + 1');
  if (parsed.steps.join('') !== parsed.solution) problems.push('steps do not join to the solution');
  if (/<<|>>|####/.test(parsed.solution)) problems.push('markers left in the solution');
  parsed.breakpoints.forEach((breakpoint, i) => {
    if (breakpoint.nextStep !== parsed.steps[i + 1]) problems.push(`breakpoint ${i}: nextStep differs from steps[${i + 1}]`);
    if (parsed.solution.slice(breakpoint.offset, breakpoint.offset + breakpoint.nextStep.length) !== breakpoint.nextStep) {
      problems.push(`breakpoint ${i}: nextStep is not at offset ${breakpoint.offset}`);
    }
    if (i > 0 && breakpoint.offset < parsed.breakpoints[i - 1].offset) problems.push(`breakpoint ${i}: offset decreases`);
  });
  return problems;
}

export function expectConsistentStructure(parsed: Pick<Gsm8kExample, 'solution' | 'breakpoints' | 'steps'>): void {
  expect(structureProblems(parsed)).toEqual([]);
}

/** A fresh directory for each test, removed after it. */
export function scratchDir(): () => string {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-gsm8k-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return () => dir;
}
