// `latent logits --spans`: every position's logits and hidden states of a sequence with latent spans,
// checked against Hugging Face transformers' Qwen2 fed inputs_embeds (Coconut's recurrence computed
// there for the raw form), on a model directory and on a run.
import '../helpers/one-thread';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { resolveSftConfig, trainSft } from '../../src/train/sft';
import { exportSftRun } from '../../src/train/export';
import { parseSpans } from '../../src/latent/logits';
import { describeWithPython, runPython } from '../helpers/python';
import { haveQwenTokenizer, sftFixture } from '../helpers/sft-fixture';
import { runTsChild } from '../train/ts-child';

const CLI = path.join(__dirname, '..', 'cli', 'cli-child.ts');
const latent = (...args: string[]) => runTsChild(CLI, args, { timeoutMs: 300_000 });

interface Line {
  ids: number[];
  spans: [number, number][];
  sequence: number[];
  kinds: ('token' | 'bot' | 'latent' | 'eot')[];
  logits: number[][];
  hidden: number[][];
  inputs: (number[] | null)[];
  latentInput: { kind: string };
}

function logits(...args: string[]): Line[] {
  const r = latent('logits', ...args);
  if (r.status !== 0) throw new Error(`latent logits failed (${r.status}): ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}

/**
 * transformers' Qwen2 in float64 (its RMSNorm kept in float64) on each line's sequence: token inputs from its own embedding matrix,
 * marker inputs as printed, and latent inputs either recomputed by Coconut's recurrence (the last
 * hidden state after the final norm, fed back) or taken as printed. Returns logits, hidden states
 * and the latent inputs it used.
 */
function transformers(
  dir: string,
  lines: Line[],
  recurrence: boolean,
): { logits: number[][]; hidden: number[][]; latents: number[][] }[] {
  return runPython(
    String.raw`
import torch
from transformers import Qwen2ForCausalLM
from transformers.models.qwen2 import modeling_qwen2
torch.set_num_threads(1)
# transformers normalises in float32 whatever the dtype; keep float64 so that 1e-10 is a fair bound
def rms_norm(self, x):
    return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))
modeling_qwen2.Qwen2RMSNorm.forward = rms_norm
m = Qwen2ForCausalLM.from_pretrained(INPUT["dir"], dtype=torch.float64).eval()
E = m.get_input_embeddings().weight
out = []
with torch.no_grad():
    for line in INPUT["lines"]:
        embeds, latents = [], []
        for p, kind in enumerate(line["kinds"]):
            if kind == "token":
                embeds.append(E[line["sequence"][p]])
            elif kind == "latent" and INPUT["recurrence"]:
                h = m.model(inputs_embeds=torch.stack(embeds)[None]).last_hidden_state[0, -1]
                embeds.append(h)
                latents.append(h.tolist())
            else:
                embeds.append(torch.tensor(line["inputs"][p], dtype=torch.float64))
        r = m(inputs_embeds=torch.stack(embeds)[None], output_hidden_states=True)
        out.append({"logits": r.logits[0].tolist(), "hidden": r.hidden_states[-1][0].tolist(), "latents": latents})
emit(out)
`,
    { dir, lines, recurrence },
  );
}

const maxDiff = (a: number[][], b: number[][]) => {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((row, i) => Math.max(...row.map((x, j) => Math.abs(x - b[i][j])))));
};

test('--spans parses one list for every sequence or one per sequence, and names a bad item', () => {
  expect(parseSpans('2:3,5:0', 2)).toEqual([
    [
      { after: 2, count: 3 },
      { after: 5, count: 0 },
    ],
    [
      { after: 2, count: 3 },
      { after: 5, count: 0 },
    ],
  ]);
  expect(parseSpans('1:1;', 2)).toEqual([[{ after: 1, count: 1 }], []]);
  expect(() => parseSpans('1:1;2:2;3:3', 2)).toThrow(/3 span lists for 2 sequences/);
  expect(() => parseSpans('1-2', 1)).toThrow(/item 1 is "1-2", not POS:K/);
});

(haveQwenTokenizer ? describeWithPython : describe.skip)('latent logits with latent spans', () => {
  let root: string;
  let fx: { data: string; model: string };
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-logits-'));
    fx = sftFixture(root);
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test("raw on a model directory: every position equals transformers running Coconut's recurrence (float64, 1e-10)", () => {
    const lines = logits(
      '--model',
      fx.model,
      '--ids',
      '5,9,3,7,2,8;4,4,6',
      '--spans',
      '2:3,4:0;0:2',
      '--latent-input',
      'raw',
      '--dtype',
      'float64',
    );
    expect(lines.map((l) => l.kinds.filter((k) => k === 'latent').length)).toEqual([3, 2]);
    expect(lines[0].kinds).toEqual([
      'token',
      'token',
      'token',
      'bot',
      'latent',
      'latent',
      'latent',
      'eot',
      'token',
      'token',
      'bot',
      'eot',
      'token',
    ]);
    const ref = transformers(fx.model, lines, true);
    lines.forEach((line, i) => {
      expect(maxDiff(line.logits, ref[i].logits)).toBeLessThan(1e-10);
      expect(maxDiff(line.hidden, ref[i].hidden)).toBeLessThan(1e-10);
      const printed = line.inputs.filter((_, p) => line.kinds[p] === 'latent') as number[][];
      expect(maxDiff(printed, ref[i].latents)).toBeLessThan(1e-10);
    });
  });

  test('gated, two-trunk reencode and pause on a model directory: transformers fed the printed inputs gives the same logits; pause inputs do not depend on the text', () => {
    const forms = [
      ['--latent-input', 'gated', '--latent-temperature', '0.5'],
      ['--latent-input', 'soft', '--mode', 'two-trunk', '--coupling', 'reencode'],
      ['--latent-input', 'pause'],
    ];
    const byForm = forms.map((form) =>
      logits('--model', fx.model, '--ids', '5,9,3,7;6,2,2,1', '--spans', '1:2', ...form, '--dtype', 'float64'),
    );
    const ref = transformers(fx.model, byForm.flat(), false);
    byForm.forEach((lines, f) => {
      expect(lines[0].latentInput.kind).toBe(forms[f][1]);
      lines.forEach((line, i) => {
        // language positions: the model alone, fed these inputs (reencode: the latent copy reaches them only through the inputs)
        const language = line.kinds.map((k, p) => (k === 'latent' ? -1 : p)).filter((p) => p >= 0);
        const mine = ref[f * lines.length + i];
        expect(
          maxDiff(
            language.map((p) => line.logits[p]),
            language.map((p) => mine.logits[p]),
          ),
        ).toBeLessThan(1e-10);
      });
      const latentInputs = (l: Line) => l.inputs.filter((_, p) => l.kinds[p] === 'latent');
      if (forms[f][1] === 'pause') expect(latentInputs(lines[0])).toEqual(latentInputs(lines[1]));
      else expect(latentInputs(lines[0])).not.toEqual(latentInputs(lines[1]));
    });
  });

  test('raw on a run: every position equals transformers on the exported model running the recurrence', async () => {
    const out = path.join(root, 'run-raw');
    const config = resolveSftConfig({
      model: fx.model,
      data: fx.data,
      out,
      latents: 2,
      steps: 3,
      batchSize: 4,
      lr: 3e-3,
      evalEvery: 3,
      evalExamples: 2,
      saveEvery: 3,
      validationSize: 8,
      latentInput: 'raw',
      dtype: 'float64',
    });
    await trainSft(config, { quiet: true });
    const exported = path.join(root, 'run-raw-model');
    await exportSftRun(out, exported);
    // a directory that holds no model is refused, and with force written into with its own files kept
    const foreign = path.join(root, 'foreign');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
    await expect(exportSftRun(out, foreign)).rejects.toThrow(/not empty and not a model directory/);
    expect(fs.readdirSync(foreign)).toEqual(['notes.txt']);
    await exportSftRun(out, foreign, { force: true });
    expect(fs.readFileSync(path.join(foreign, 'notes.txt'), 'utf8')).toBe('mine');
    expect(fs.existsSync(path.join(foreign, 'config.json'))).toBe(true);
    const lines = logits('--run', out, '--ids', '5,9,3,7,2', '--spans', '1:2,3:1', '--dtype', 'float64');
    expect(lines[0].latentInput.kind).toBe('raw');
    const [ref] = transformers(exported, lines, true);
    expect(maxDiff(lines[0].logits, ref.logits)).toBeLessThan(1e-10);
    expect(maxDiff(lines[0].hidden, ref.hidden)).toBeLessThan(1e-10);
    const refused = latent('logits', '--run', out, '--ids', '1,2', '--latent-input', 'soft');
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('--latent-input does not apply to --run');
    const outside = latent('logits', '--model', fx.model, '--ids', '1,2', '--spans', '2:1');
    expect(outside.status).not.toBe(0);
    expect(outside.stderr).toContain('span 1: position 2 is outside the 2 tokens (0 … 1)');
  });
});
