// `latent compare` as a user runs it: bad variant specs and a missing budget are refused in one line
// before anything is trained; a tiny comparison writes compare.json and compare.html and prints the table.
import '../helpers/one-thread';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runTsChild } from '../train/ts-child';
import { haveQwenTokenizer as have, sftFixture } from '../helpers/sft-fixture';

const CLI = path.join(__dirname, 'cli-child.ts');
const latent = (...args: string[]) => runTsChild(CLI, args, { timeoutMs: 600_000 });

describe('latent compare', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-cli-compare-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('a bad variant spec, no variants, and a sweep file setting an interface field are refused in one line, nothing written', () => {
    const out = path.join(root, 'nothing');
    const bad = latent('compare', '--model', root, '--data', root, '--out', out, '--variants', 'full:affine:k2,two-trunk:rw:k2');
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toBe(
      'latent: CompareError: variant "two-trunk:rw:k2": unknown part "rw" (expected full|two-trunk, an input form (raw|scaled|affine|gated|soft|pause|planted-result|zeros), a coupling (shared-kv|reencode), kN, a schedule (fixed|digits|operations), markers, freeze-markers)',
    );
    const none = latent('compare', '--model', root, '--data', root, '--out', out);
    expect(none.status).toBe(1);
    expect(none.stderr.trim()).toBe(
      'latent: CompareError: name the variants: --variants full:affine:k2,… or "variants" in --config',
    );
    const file = path.join(root, 'sweep.json');
    fs.writeFileSync(file, JSON.stringify({ latents: 2, variants: ['full:k2'] }));
    const sweep = latent('compare', '--config', file, '--model', root, '--data', root, '--out', out);
    expect(sweep.status).toBe(1);
    expect(sweep.stderr.trim()).toBe(
      `latent: CompareError: --config ${file}: latents is a variant's own; give it in each variant, not for all`,
    );
    expect(fs.existsSync(out)).toBe(false);
  });

  (have ? test : test.skip)(
    'a sweep file and flags: the runs, compare.json, compare.html and the table',
    () => {
      const fx = sftFixture(path.join(root, 'fx'));
      const file = path.join(root, 'cmp.json');
      const out = path.join(root, 'cmp');
      fs.writeFileSync(
        file,
        JSON.stringify({
          model: fx.model,
          data: fx.data,
          out,
          variants: [{ name: 'tt-gated', mode: 'two-trunk', latentInput: 'gated', latents: 1 }],
          batchSize: 4,
          lr: 3e-3,
          evalEvery: 2,
          evalExamples: 2,
          validationSize: 4,
          startFitExamples: 8,
          evaluation: { examples: 4, generate: 1, inspect: 1, maxNewTokens: 8, constantSteps: 1 },
        }),
      );
      const r = latent('compare', '--config', file, '--steps', '2', '--threads', '1');
      expect(r.stderr).not.toMatch(/latent: /);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/comparison of 2 runs from .* 2 steps, batch 4, lr 0.003, seed 0/);
      expect(r.stdout).toMatch(/\ntt-gated +(helps|used-but-no-help|ignored|hurts) /);
      const c = JSON.parse(fs.readFileSync(path.join(out, 'compare.json'), 'utf8'));
      expect(c.rows.map((row: { name: string }) => row.name)).toEqual(['baseline-k0', 'tt-gated']);
      expect(c.budget).toMatchObject({ steps: 2, batchSize: 4, lr: 3e-3 });
      expect(fs.readFileSync(path.join(out, 'compare.html'), 'utf8')).toContain('tt-gated');
      expect(fs.existsSync(path.join(out, 'tt-gated', 'diagnostics.json'))).toBe(true);
      // the finished comparison again: kept, not retrained
      const again = latent('compare', '--config', file, '--steps', '2', '--threads', '1');
      expect(again.status).toBe(0);
      expect(again.stderr).toContain('compare [2/2] tt-gated: trained already (2 steps), kept');
      expect(again.stderr).toContain('compare [2/2] tt-gated: evaluated already, kept');
    },
    900_000,
  );
});
