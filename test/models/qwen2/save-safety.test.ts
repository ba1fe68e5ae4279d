// Saving a model never destroys what it did not write: a directory that is not a model this library
// wrote is refused unless forced, the files of a save are swapped in as one set (a failed save
// leaves the previous model whole), and config shapes are checked against the weights' header
// before any parameter is allocated.
import * as fs from 'fs';
import * as path from 'path';
import yargs from 'yargs';
import { loadQwen2, makeModel, saveQwen2, type MakeModelOptions } from '../../../src/models/qwen2';
import { command as makeModelCommand } from '../../../src/cli/commands/make-model';
import { scratchDir } from './helpers';

const SMALL: MakeModelOptions = { layers: 1, hidden: 16, heads: 2, kvHeads: 1, intermediate: 24, vocab: 40, std: 0.2, seed: 5 };
const scratch = scratchDir('save-safety');
afterAll(() => scratch.cleanup());
const dirOf = (name: string) => path.join(scratch.dir, name);

function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('latin1')]),
  );
}

test("a directory holding someone else's files is refused without force, and left as it was", () => {
  const dir = dirOf('someone');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), '{"mine": 1}\n');
  fs.writeFileSync(path.join(dir, 'model-weights.safetensors'), 'not ours');
  fs.writeFileSync(path.join(dir, 'model.safetensors'), 'also not ours');
  const before = snapshot(dir);
  let error: Error | undefined;
  try {
    makeModel(dir, SMALL);
  } catch (e) {
    error = e as Error;
  }
  expect(error?.name).toBe('ModelDirError');
  expect(error?.message).toMatch(/someone: not empty and not a model written by this library .*force/);
  expect(snapshot(dir)).toEqual(before);
  expect(fs.readdirSync(scratch.dir).filter((f) => f.startsWith('someone'))).toEqual(['someone']);
  // forced: the model is written, the other files are kept
  makeModel(dir, { ...SMALL, force: true });
  expect(fs.readFileSync(path.join(dir, 'model-weights.safetensors'), 'utf8')).toBe('not ours');
  loadQwen2(dir).model.dispose();
});

test('a model this library wrote is replaced as a set: shards and index together, other files kept', () => {
  const dir = dirOf('ours');
  const { model } = (makeModel(dirOf('source'), SMALL), loadQwen2(dirOf('source')));
  try {
    saveQwen2(model, dir, { maxShardBytes: 2_000 });
    const shards = fs.readdirSync(dir).filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    expect(shards.length).toBeGreaterThan(1);
    fs.writeFileSync(path.join(dir, 'README.md'), 'notes');
    saveQwen2(model, dir); // one file now: no shard or index of the earlier save is left
    expect(fs.readdirSync(dir).sort()).toEqual(['README.md', 'config.json', 'generation_config.json', 'model.safetensors']);
    // a save that fails half-way leaves the previous set whole and no temporary behind
    const before = snapshot(dir);
    const broken = Object.create(model) as typeof model;
    let calls = 0;
    broken.stateDict = () => {
      const sd = model.stateDict();
      return new Map(
        [...sd].map(([k, t]) => [
          k,
          calls++ === 3
            ? ({
                ...t,
                shape: t.shape,
                to: () => {
                  throw new Error('disk full');
                },
              } as never)
            : t,
        ]),
      );
    };
    expect(() => saveQwen2(broken, dir, { maxShardBytes: 2_000 })).toThrow();
    expect(snapshot(dir)).toEqual(before);
    expect(fs.readdirSync(scratch.dir).filter((f) => f.startsWith('ours'))).toEqual(['ours']);
    loadQwen2(dir).model.dispose();
  } finally {
    model.dispose();
  }
});

test('latent make-model --out refuses a non-empty directory unless --force', async () => {
  const dir = dirOf('cli');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), '{}');
  const args = [
    'make-model',
    '--layers',
    '1',
    '--hidden',
    '16',
    '--heads',
    '2',
    '--intermediate',
    '24',
    '--vocab',
    '40',
    '--out',
    dir,
  ];
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await expect(yargs(args).command(makeModelCommand).strict().fail(false).parseAsync()).rejects.toThrow(
      /not a model written by this library .*--force/,
    );
    expect(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).toBe('{}');
    await yargs([...args, '--force'])
      .command(makeModelCommand)
      .strict()
      .fail(false)
      .parseAsync();
    // a model it wrote is replaced without --force
    await yargs(args).command(makeModelCommand).strict().fail(false).parseAsync();
  } finally {
    log.mockRestore();
  }
  loadQwen2(dir).model.dispose();
});

test('config shapes are checked against the safetensors header before allocating', () => {
  const dir = dirOf('huge-config');
  makeModel(dir, SMALL);
  const file = path.join(dir, 'config.json');
  // 2^33 x 16 floats would be a 512 GiB embedding: the header check must refuse it first
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), vocab_size: 2 ** 33 }));
  expect(() => loadQwen2(dir)).toThrow(/model.embed_tokens.weight" has shape \[40,16\], the model expects \[8589934592,16\]/);
});
