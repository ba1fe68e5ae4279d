// The make-model, logits and generate commands, run in-process through yargs as `latent` runs them.
import * as fs from 'fs';
import * as path from 'path';
import yargs from 'yargs';
import type { CommandModule } from 'yargs';
import * as torch from '../../../src/torch';
import { command as makeModelCommand } from '../../../src/cli/commands/make-model';
import { command as logitsCommand, parseIdLists } from '../../../src/cli/commands/logits';
import { command as generateCommand } from '../../../src/cli/commands/generate';
import { generate, loadQwen2, readQwen2Config } from '../../../src/models/qwen2';
import { relativeError, scratchDir, wordTokenizer } from './helpers';

/** Runs one command with argv; returns what it wrote to stdout (console.log included). */
async function run(command: CommandModule<any, any>, argv: string[]): Promise<string> {
  let out = '';
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  const log = jest.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void (out += parts.join(' ') + '\n'));
  try {
    await yargs(argv)
      .command(command)
      .strict()
      .fail((message, error) => {
        throw error ?? new Error(message);
      })
      .parseAsync();
  } finally {
    write.mockRestore();
    log.mockRestore();
  }
  return out;
}

const scratch = scratchDir('cli');
afterAll(() => scratch.cleanup());
const dirOf = (name: string) => path.join(scratch.dir, name);
const SIZE = ['--layers', '2', '--hidden', '32', '--heads', '4', '--kv-heads', '2', '--intermediate', '48', '--vocab', '40'];

describe('latent make-model', () => {
  test('writes a Hugging Face checkpoint with the requested shape, dtype and tying', async () => {
    const out = await run(makeModelCommand, [
      'make-model',
      ...SIZE,
      '--out',
      dirOf('bf16'),
      '--tie',
      'true',
      '--dtype',
      'bfloat16',
      '--seed',
      '3',
      '--std',
      '0.1',
    ]);
    expect(out).toMatch(/wrote .*bf16: Qwen2 with 2 layers, hidden 32, [\d,]+ parameters \(bfloat16\)/);
    expect(fs.readdirSync(dirOf('bf16')).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors']);
    const config = readQwen2Config(dirOf('bf16'));
    expect(config).toMatchObject({
      numHiddenLayers: 2,
      hiddenSize: 32,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      intermediateSize: 48,
      vocabSize: 40,
      tieWordEmbeddings: true,
      torchDtype: 'bfloat16',
    });
    const { model } = loadQwen2(dirOf('bf16'));
    expect(model.dtype).toBe('bfloat16');
    const embedStd = model.model.embed_tokens.weight.float().std().item();
    expect(embedStd).toBeGreaterThan(0.08);
    expect(embedStd).toBeLessThan(0.12);
    expect(model.model.layers.at(0).self_attn.q_proj.bias!.abs().max().item()).toBe(0); // --init hf: zero biases
    const parameters = Number(out.match(/([\d,]+) parameters/)![1].replace(/,/g, ''));
    expect(parameters).toBe(model.numParameters());
    model.dispose();
  });

  test('is reproducible with --seed, and --tie false unties', async () => {
    await run(makeModelCommand, ['make-model', ...SIZE, '--out', dirOf('a'), '--tie', 'false', '--seed', '8']);
    await run(makeModelCommand, ['make-model', ...SIZE, '--out', dirOf('b'), '--seed', '8']);
    expect(
      fs
        .readFileSync(path.join(dirOf('a'), 'model.safetensors'))
        .equals(fs.readFileSync(path.join(dirOf('b'), 'model.safetensors'))),
    ).toBe(true);
    expect(readQwen2Config(dirOf('a')).tieWordEmbeddings).toBe(false);
  });

  test('--tokenizer copies a tokenizer and takes its eos id', async () => {
    const tokenizerDir = dirOf('tokenizer');
    wordTokenizer(40).save(tokenizerDir);
    await run(makeModelCommand, [
      'make-model',
      ...SIZE,
      '--out',
      dirOf('with-tok'),
      '--tokenizer',
      tokenizerDir,
      '--init',
      'full',
      '--seed',
      '2',
    ]);
    expect(fs.existsSync(path.join(dirOf('with-tok'), 'tokenizer.json'))).toBe(true);
    expect(readQwen2Config(dirOf('with-tok')).eosTokenIds).toEqual([39]);
    const small = ['--layers', '1', '--hidden', '8', '--heads', '2', '--intermediate', '8', '--vocab', '20'];
    await expect(
      run(makeModelCommand, ['make-model', ...small, '--out', dirOf('x'), '--tokenizer', tokenizerDir]),
    ).rejects.toThrow(/has 40 ids, more than --vocab 20/);
  });
});

describe('latent logits', () => {
  beforeAll(async () => {
    await run(makeModelCommand, [
      'make-model',
      ...SIZE,
      '--out',
      dirOf('logits-model'),
      '--seed',
      '4',
      '--std',
      '0.2',
      '--init',
      'full',
    ]);
  });

  test('prints one JSON line per sequence with ids, logits and final hidden states', async () => {
    const out = await run(logitsCommand, [
      'logits',
      '--model',
      dirOf('logits-model'),
      '--ids',
      '1,2,3; 4,5',
      '--dtype',
      'float64',
    ]);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.ids)).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    const { model } = loadQwen2(dirOf('logits-model'), { dtype: 'float64' });
    for (const line of lines) {
      expect(Object.keys(line)).toEqual(['ids', 'logits', 'hidden']);
      const ref = torch.noGrad(() => model.forward({ inputIds: torch.tensor([line.ids], { dtype: 'int64' }) }));
      expect([line.logits.length, line.logits[0].length, line.hidden[0].length]).toEqual([line.ids.length, 40, 32]);
      expect(relativeError(line.logits, ref.logits)).toBe(0);
      expect(relativeError(line.hidden, ref.lastHidden)).toBe(0);
    }
    model.dispose();
  });

  test('float32 by default, close to float64', async () => {
    const f32 = JSON.parse(await run(logitsCommand, ['logits', '--model', dirOf('logits-model'), '--ids', '7,8']));
    const f64 = JSON.parse(
      await run(logitsCommand, ['logits', '--model', dirOf('logits-model'), '--ids', '7,8', '--dtype', 'float64']),
    );
    expect(relativeError(f32.logits, f64.logits)).toBeGreaterThan(0);
    expect(relativeError(f32.logits, f64.logits)).toBeLessThan(1e-5);
  });

  test('bad --ids are reported with their position', async () => {
    expect(parseIdLists('1, 2;3')).toEqual([[1, 2], [3]]);
    expect(() => parseIdLists('1,2;;3')).toThrow(/sequence 2 is empty/);
    expect(() => parseIdLists('1,x')).toThrow(/sequence 1, token 2 is "x", not a token id/);
    await expect(run(logitsCommand, ['logits', '--model', dirOf('logits-model'), '--ids', '1;2,40'])).rejects.toThrow(
      /sequence 2 has token 40, outside the vocabulary \(vocab_size 40\)/,
    );
  });
});

describe('latent generate', () => {
  test('prints the continuation of a prompt as the API generates it', async () => {
    const tokenizer = wordTokenizer(40);
    const tokenizerDir = dirOf('gen-tokenizer');
    tokenizer.save(tokenizerDir);
    await run(makeModelCommand, [
      'make-model',
      ...SIZE,
      '--out',
      dirOf('gen-model'),
      '--tokenizer',
      tokenizerDir,
      '--seed',
      '6',
      '--std',
      '0.3',
      '--init',
      'full',
    ]);
    const out = await run(generateCommand, [
      'generate',
      '--model',
      dirOf('gen-model'),
      '--prompt',
      'w1 w2 w3',
      '--max-new-tokens',
      '6',
    ]);
    const { model, generation } = loadQwen2(dirOf('gen-model'));
    const [expected] = generate(model, [tokenizer.encode('w1 w2 w3')], {
      maxNewTokens: 6,
      tokenizer,
      eosTokenIds: generation.eosTokenIds,
    });
    expect(out).toBe(`${expected.text}\n`);
    const batch = await run(generateCommand, [
      'generate',
      '--model',
      dirOf('gen-model'),
      '--prompt',
      'w1 w2 w3',
      '--prompt',
      'w5',
      '--max-new-tokens',
      '6',
    ]);
    expect(batch.split('\n')[0]).toBe(`[0] w1 w2 w3${expected.text}`);
    model.dispose();
  });
});
