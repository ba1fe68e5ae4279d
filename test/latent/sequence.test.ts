import * as fs from 'fs';
import * as path from 'path';
import { buildLatentSequence, chunksOf, Role } from '../../src/latent/sequence';
import { parseGsm8kRecord, loadGsm8k, type Gsm8kExample } from '../../src/data/gsm8k';
import { Tokenizer } from '../../src/models/tokenizer';

const REPO = path.resolve(__dirname, '..', '..');
const tokDir = process.env.QWEN_TOKENIZER_DIR ?? path.resolve(REPO, '..', 'shared', 'qwen-tokenizer');
const gsmDir = process.env.GSM8K_DIR ?? path.resolve(REPO, '..', 'shared', 'gsm8k');
const haveTok = fs.existsSync(path.join(tokDir, 'tokenizer.json'));
if (!haveTok) console.log(`skipping sequence tests: no tokenizer at ${tokDir}`);
const maybe = haveTok ? describe : describe.skip;

function example(question: string, answer: string): Gsm8kExample {
  const r = parseGsm8kRecord(JSON.stringify({ question, answer }), 0);
  if (!('example' in r)) throw new Error('fixture did not parse');
  return (r as { example: Gsm8kExample }).example;
}

maybe('buildLatentSequence', () => {
  let tok: Tokenizer;
  let bot: number;
  let eot: number;
  beforeAll(() => {
    tok = Tokenizer.fromDir(tokDir);
    [bot, eot] = tok.addSpecialTokens(['<bot>', '<eot>']);
  });
  const ex = () =>
    example(
      'Tom has 3 bags of 4 apples. He eats 2. How many are left?',
      'He has 3*4=<<3*4=12>>12 apples.\nThen 12-2=<<12-2=10>>10 are left.\n#### 10',
    );

  test('k latents per breakpoint, markers, roles and targets', () => {
    const s = buildLatentSequence(ex(), tok, { latents: 3, botId: bot, eotId: eot });
    expect(s.spans.length).toBe(2);
    for (const span of s.spans) {
      expect(s.ids[span.botPosition]).toBe(bot);
      expect(s.roles.slice(span.botPosition + 1, span.botPosition + 4)).toEqual([Role.Latent, Role.Latent, Role.Latent]);
      expect(s.ids[span.botPosition + 4]).toBe(eot);
      // no target predicts a marker or a latent; the <eot> position predicts the result's first digit
      expect(s.targets[span.botPosition - 1]).toBe(-100);
      expect(s.targets[span.botPosition]).toBe(-100);
      expect(s.targets[span.botPosition + 3]).toBe(-100);
      expect(tok.decode([s.targets[span.botPosition + 4]])).toMatch(/^\d$/);
      expect(s.startTarget[span.botPosition - 1]).toBe(1);
    }
    expect(s.spans.map((x) => x.result)).toEqual(['12', '10']);
    // the language tokens, without markers and latents, decode to the plain training text
    const lang = s.ids.filter((_, i) => s.roles[i] === Role.Prompt || s.roles[i] === Role.Language);
    expect(tok.decode(lang)).toBe(
      'Question: Tom has 3 bags of 4 apples. He eats 2. How many are left?\nAnswer: He has 3*4=12 apples.\nThen 12-2=10 are left.\n#### 10',
    );
    // result targets: the two digits of each result
    const resultTokens = s.targets.filter((_, i) => s.resultTarget[i]).map((id) => tok.decode([id]));
    expect(resultTokens).toEqual(['1', '2', '1', '0']);
    // next-step targets start after the first span
    const firstNext = s.nextStepOf.findIndex((v) => v >= 0);
    expect(firstNext).toBe(s.spans[0].botPosition + 4);
  });

  test('the step after each span is its line; spans carry the tokens of their result', () => {
    const s = buildLatentSequence(ex(), tok, { latents: 2, botId: bot, eotId: eot });
    const stepText = (seq: typeof s) => {
      // consecutive step targets joined, one string per run
      const runs: string[] = [];
      let current: number[] = [];
      seq.targets.forEach((id, i) => {
        if (seq.stepTarget[i]) current.push(id);
        else if (current.length) {
          runs.push(tok.decode(current));
          current = [];
        }
      });
      if (current.length) runs.push(tok.decode(current));
      // the token that ends the line may carry its line break (Qwen writes ".\n" as one token)
      return runs.map((r) => r.trimEnd());
    };
    expect(stepText(s)).toEqual(['12 apples.', '10 are left.']);
    expect(s.spans.map((x) => tok.decode(x.resultIds))).toEqual(['12', '10']);
    // the same step tokens on the k = 0 layout, so runs and their no-span reference score the same tokens
    const base = buildLatentSequence(ex(), tok, { latents: 0, botId: bot, eotId: eot });
    expect(stepText(base)).toEqual(['12 apples.', '10 are left.']);
    const markers = buildLatentSequence(ex(), tok, { latents: 0, botId: bot, eotId: eot, markersAtZero: true });
    expect(stepText(markers)).toEqual(['12 apples.', '10 are left.']);
  });

  test('k = 0 is the plain text baseline with the same language targets', () => {
    const base = buildLatentSequence(ex(), tok, { latents: 0, botId: bot, eotId: eot });
    const lat = buildLatentSequence(ex(), tok, { latents: 2, botId: bot, eotId: eot });
    expect(base.spans).toEqual([]);
    expect(base.roles.every((r) => r === Role.Prompt || r === Role.Language)).toBe(true);
    const t = (s: typeof base) => s.targets.filter((x) => x !== -100);
    expect(t(base)).toEqual(t(lat));
    const r = (s: typeof base) => s.resultTarget.filter((x, i) => s.targets[i] !== -100);
    expect(r(base)).toEqual(r(lat));
    // start classifier positives at the same language tokens
    const posTokens = (s: typeof base) => s.startTarget.map((v, i) => (v === 1 ? s.ids[i] : -1)).filter((x) => x >= 0);
    expect(posTokens(base)).toEqual(posTokens(lat));
    expect(posTokens(base).length).toBe(2);
  });

  test('schedules and marker-only control', () => {
    const s = buildLatentSequence(ex(), tok, { latents: (i) => i + 1, botId: bot, eotId: eot });
    expect(s.spans.map((x) => x.count)).toEqual([1, 2]);
    const m = buildLatentSequence(ex(), tok, { latents: 0, botId: bot, eotId: eot, markersAtZero: true });
    expect(m.spans.map((x) => x.count)).toEqual([0, 0]);
    expect(() => buildLatentSequence(ex(), tok, { latents: -1, botId: bot, eotId: eot })).toThrow(/non-negative/);
  });

  test('chunks alternate language and latent spans and cover the sequence', () => {
    const s = buildLatentSequence(ex(), tok, { latents: 2, botId: bot, eotId: eot });
    const c = chunksOf(s);
    expect(c.map((x) => x.kind)).toEqual(['language', 'latent', 'language', 'latent', 'language']);
    let covered = 0;
    for (const x of c) covered += x.kind === 'language' ? x.end - x.start : x.count;
    expect(covered).toBe(s.ids.length);
    expect((c[0] as { end: number }).end - 1).toBe(s.spans[0].botPosition);
  });

  test('every real GSM8K test example builds consistently', () => {
    const file = path.join(gsmDir, 'test.jsonl');
    if (!fs.existsSync(file)) return console.log(`skipping: no GSM8K at ${gsmDir}`);
    const { examples } = loadGsm8k(gsmDir, { split: 'test' });
    for (const e of examples.slice(0, 200)) {
      const s = buildLatentSequence(e, tok, { latents: 2, botId: bot, eotId: eot });
      expect(s.spans.length).toBe(e.breakpoints.length);
      expect(s.ids.length).toBe(s.roles.length);
      expect(s.targets.filter((x) => x !== -100).length).toBeGreaterThan(0);
    }
  });
});
