// The first-hour workflow from the command line, each step its own process as a user runs it:
// `latent train sft … --steps 4` with every other option at its default, then `latent eval`,
// `latent report` and `latent export`, whose directory Hugging Face transformers loads (config,
// safetensors, tokenizer with <bot>/<eot>) and whose logits match this library's.
import '../helpers/one-thread';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as torch from '../../src/torch';
import { writeArithTask } from '../../src/data/arith-task';
import { formatTrainingText, loadGsm8k } from '../../src/data/gsm8k';
import { trainByteLevelBpe } from '../../src/demo/tokenizer';
import { loadQwen2 } from '../../src/models/qwen2';
import { describeWithPython, runPython } from '../helpers/python';
import { runTsChild } from '../train/ts-child';
import { makeTinyQwen2 } from '../helpers/tiny-qwen2';

const CLI = path.join(__dirname, 'cli-child.ts');
const latent = (...args: string[]) => runTsChild(CLI, args, { timeoutMs: 300_000 });

describe('latent CLI: flags', () => {
  test('a number option given a non-number is refused in one line naming the flag and the value', () => {
    const r = latent('train', 'sft', '--steps', 'four', '--model', 'm', '--data', 'd', '--out', 'o');
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('latent: --steps "four": not a number');
  });

  test('a missing data directory and a run given as --model are refused in one line each', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-cli-flags-'));
    try {
      fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify({ model_type: 'qwen2' }));
      const missing = latent('train', 'sft', '--model', root, '--data', path.join(root, 'nope'), '--out', path.join(root, 'run'));
      expect(missing.status).toBe(1);
      fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify({ kind: 'sft' }));
      const run = latent('train', 'sft', '--model', root, '--data', root, '--out', path.join(root, 'run'));
      expect(run.status).toBe(1);
      const lines = [missing.stderr.trim(), run.stderr.trim()];
      expect(lines.every((l) => !l.includes('\n'))).toBe(true);
      expect(lines[1]).toBe(
        `latent: OptionError: --model ${root}: is a sft run directory, not a model (export its model with \`latent export ${root} --out DIR\`)`,
      );
      fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify({ model_type: 'qwen2' }));
      expect(missing.stderr).toContain(`--data ${path.join(root, 'nope')}: does not exist`);
      const notRun = latent('export', root, '--out', path.join(root, 'x'));
      expect(notRun.status).toBe(1);
      expect(notRun.stderr.trim()).toBe(
        `latent: OptionError: <run> ${root}: has a config.json that is not a run’s (a model directory? runs are written by \`latent train\`)`,
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('--help shows the default of every option, grouped', () => {
    const r = latent('train', 'sft', '--help');
    expect(r.status).toBe(0);
    for (const group of ['Run:', 'Optimization:', 'Latent heads:', 'Evaluation and checkpoints:', 'Hardware:'])
      expect(r.stdout).toContain(group);
    const options = r.stdout
      .split('\n')
      .filter((l) => /^\s+--[a-z]/.test(l) && !/--(help|version)\b/.test(l))
      .map((l) => l.trim().split(/\s+/)[0]);
    expect(options.length).toBeGreaterThan(20);
    // each option's block (its line and any continuation lines) carries a [default: …]
    const blocks = r.stdout.split(/\n(?=\s+--)/).filter((b) => /^\s+--[a-z]/.test(b) && !/^\s+--(help|version)\b/.test(b));
    for (const b of blocks) if (!/--(config|resume)\b/.test(b.split('\n')[0])) expect(b).toMatch(/\[default: [^\]]+\]/);
  });
});

describeWithPython('latent CLI: train sft with defaults, eval, report, export', () => {
  let root: string;
  let data: string;
  let model: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-cli-'));
    data = path.join(root, 'data');
    writeArithTask(data, { train: 40, test: 8, seed: 5, maxSteps: 2, maxDigits: 1 });
    const texts = loadGsm8k(data, { split: 'train' }).examples.map((e) => formatTrainingText(e));
    const tok = path.join(root, 'tok');
    const tokenizer = trainByteLevelBpe(texts, { vocabSize: 300 });
    tokenizer.save(tok);
    model = path.join(root, 'model');
    makeTinyQwen2(model, tok, tokenizer.vocabSize, { layers: 1, seed: 2 });
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('the whole sequence works, and the export round-trips through transformers', () => {
    const run = path.join(root, 'run');
    const train = latent('train', 'sft', '--model', model, '--data', data, '--out', run, '--steps', '4');
    expect(train.stderr).not.toMatch(/warmupSteps|exceeds/);
    expect(train.status).toBe(0);
    const config = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'));
    expect(config.warmupSteps).toBe(0); // 5 % of 4 steps, rounded: stated in the run's config
    expect(config.warmupRatio).toBe(0.05);
    const rel = path.relative(process.cwd(), run).startsWith('..') ? run : path.relative(process.cwd(), run);
    expect(train.stderr).toContain(`latent eval ${rel}`);
    expect(train.stderr).toContain(`latent report ${rel}`);
    expect(JSON.parse(train.stdout.trim().split('\n').pop()!)).toMatchObject({ steps: 4, stopped: 'completed' });

    const evaluated = latent('eval', run, '--examples', '4', '--generate', '2', '--inspect', '2', '--max-new-tokens', '8');
    expect(evaluated.status).toBe(0);
    expect(evaluated.stdout).toContain('step 4: test loss');
    expect(fs.existsSync(path.join(run, 'diagnostics.json'))).toBe(true);
    // eval refreshes the run's report and names the file it wrote
    const refreshed = /^report: (.*report\.html)$/m.exec(evaluated.stderr);
    expect(refreshed && fs.existsSync(refreshed[1])).toBe(true);

    const report = latent('report', run);
    expect(report.status).toBe(0);
    expect(fs.existsSync(report.stdout.trim())).toBe(true);

    const out = path.join(root, 'exported');
    const exported = latent('export', run, '--out', out);
    expect(exported.status).toBe(0);
    expect(JSON.parse(exported.stdout.trim()).step).toBe(4);

    // our reading of the export, and transformers' reading of the same directory
    const ours = loadQwen2(out);
    const bot = ours.tokenizer!.tokenToId('<bot>')!;
    const eot = ours.tokenizer!.tokenToId('<eot>')!;
    const text = 'Question: 3 + 4 = <bot><eot> 7';
    const ids = ours.tokenizer!.encode(text);
    const logits = torch.scope(() =>
      torch.noGrad(
        () =>
          ours.model
            .forward({ inputIds: torch.tensor([ids]) })
            .logits.to('float64')
            .flatten()
            .tolist() as number[],
      ),
    );
    ours.model.dispose();
    const py = runPython<{ ids: number[]; bot: number; eot: number; logits: number[]; special: string[] }>(
      String.raw`
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
torch.set_num_threads(1)
tok = AutoTokenizer.from_pretrained(INPUT["dir"])
m = AutoModelForCausalLM.from_pretrained(INPUT["dir"], dtype=torch.float32).eval()
ids = tok(INPUT["text"], add_special_tokens=False)["input_ids"]
with torch.no_grad():
    logits = m(torch.tensor([INPUT["ids"]])).logits[0].double().flatten().tolist()
emit({"ids": ids, "bot": tok.convert_tokens_to_ids("<bot>"), "eot": tok.convert_tokens_to_ids("<eot>"), "logits": logits, "special": tok.all_special_tokens + list(tok.get_added_vocab().keys())})
`,
      { dir: out, text, ids },
    );
    expect(py.bot).toBe(bot);
    expect(py.eot).toBe(eot);
    expect(py.special).toEqual(expect.arrayContaining(['<bot>', '<eot>']));
    expect(py.ids).toEqual(ids);
    expect(py.logits.length).toBe(logits.length);
    const maxDiff = Math.max(...logits.map((x, i) => Math.abs(x - py.logits[i])));
    const scale = Math.max(...logits.map(Math.abs));
    expect(maxDiff / scale).toBeLessThan(1e-4);
  });
});
