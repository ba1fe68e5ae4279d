import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RunDir } from '../../src/train/run-dir';

describe('RunDir', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-rundir-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  test('opening a path that is not a run creates nothing and says so', () => {
    const typo = path.join(root, 'typo');
    const dir = new RunDir(typo);
    expect(dir.readJson('config.json')).toBeNull();
    expect(dir.readJsonl('metrics.jsonl')).toEqual([]);
    expect(() => RunDir.open(typo)).toThrow(/typo: not a run directory/);
    expect(fs.existsSync(typo)).toBe(false);
    fs.mkdirSync(typo);
    expect(() => RunDir.open(typo)).toThrow(/not a run directory \(no config.json\)/);
    try {
      RunDir.open(typo);
    } catch (e) {
      expect((e as Error).name).toBe('RunDirError');
    }
  });

  test('open checks the kind of run', () => {
    const run = RunDir.create(path.join(root, 'run'));
    run.writeJson('config.json', { kind: 'sft' });
    expect(RunDir.open(run.dir, { kind: 'sft' }).dir).toBe(run.dir);
    expect(() => RunDir.open(run.dir, { kind: 'rl' })).toThrow(/config.json: a 'sft' run, not a 'rl' run/);
  });

  test('create refuses a directory holding anything, and leaves it as it was', () => {
    const user = path.join(root, 'project');
    fs.mkdirSync(user);
    fs.writeFileSync(path.join(user, 'config.json'), '{"kind": "sft"}\n');
    expect(() => RunDir.create(user)).toThrow(/already holds a run .*--resume.*nothing was written/);
    fs.rmSync(path.join(user, 'config.json'));
    fs.writeFileSync(path.join(user, 'notes.txt'), 'keep');
    expect(() => RunDir.create(user)).toThrow(/is not empty \(notes.txt\); choose another --out/);
    expect(fs.readdirSync(user)).toEqual(['notes.txt']);
    const file = path.join(root, 'a-file');
    fs.writeFileSync(file, 'x');
    expect(() => RunDir.create(file)).toThrow(/exists and is not a directory/);
    // new and empty directories are fine
    expect(fs.existsSync(RunDir.create(path.join(root, 'new', 'run')).dir)).toBe(true);
    fs.mkdirSync(path.join(root, 'empty'));
    expect(RunDir.create(path.join(root, 'empty')).dir).toBe(path.join(root, 'empty'));
  });

  test('a JSON file that does not parse is reported with its path', () => {
    const run = RunDir.create(path.join(root, 'run'));
    fs.writeFileSync(run.path('config.json'), '{"kind": "sft",');
    expect(() => run.readJson('config.json')).toThrow(
      new RegExp(`${run.path('config.json').replace(/[/.]/g, '\\$&')}: not valid JSON`),
    );
  });

  test('writeJson and truncateJsonl replace files by rename, never in place', () => {
    // A hard link to the old file keeps the old bytes only if the new content went to a new inode.
    const run = RunDir.create(path.join(root, 'run'));
    run.writeJson('config.json', { kind: 'sft', v: 1 });
    fs.linkSync(run.path('config.json'), path.join(root, 'old-config'));
    run.writeJson('config.json', { kind: 'sft', v: 2 });
    expect(JSON.parse(fs.readFileSync(path.join(root, 'old-config'), 'utf8')).v).toBe(1);
    expect(run.readJson<{ v: number }>('config.json')!.v).toBe(2);
    for (let step = 1; step <= 4; step++) run.append('metrics.jsonl', { step });
    fs.linkSync(run.path('metrics.jsonl'), path.join(root, 'old-metrics'));
    run.truncateJsonl('metrics.jsonl', 2);
    expect(run.readJsonl<{ step: number }>('metrics.jsonl').map((r) => r.step)).toEqual([1, 2]);
    expect(fs.readFileSync(path.join(root, 'old-metrics'), 'utf8').trim().split('\n')).toHaveLength(4);
    expect(fs.readdirSync(run.dir).sort()).toEqual(['config.json', 'metrics.jsonl']);
  });
});
