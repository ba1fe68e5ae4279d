import * as torch from '../../src/torch';
import { attentionMask } from '../../src/models/attention-mask';
import { buildAttentionMask } from '../../src/models/qwen2/modeling';
import { CacheSlots } from '../../src/latent/cache-slots';
import { SeededRandom } from '../helpers/random';

/** The rule written out element by element: the reference the tensor version is checked against. */
function referenceMask(positions: number[][], valid: boolean[][], queries: number): boolean[][][] {
  const S = positions[0].length;
  return positions.map((pos, b) =>
    Array.from({ length: queries }, (_, q) => {
      const slot = S - queries + q;
      return pos.map((p, k) => k === slot || (valid[b][slot] && valid[b][k] && p <= pos[slot]));
    }),
  );
}

function toNested(mask: torch.Tensor): boolean[][][] {
  const [B, one, T, S] = mask.shape;
  expect(one).toBe(1);
  const flat = mask.toTypedArray() as Uint8Array;
  return Array.from({ length: B }, (_, b) =>
    Array.from({ length: T }, (_, q) => Array.from({ length: S }, (_, k) => flat[(b * T + q) * S + k] === 1)),
  );
}

function randomSlots(rng: SeededRandom, B: number, S: number): { positions: number[][]; valid: boolean[][] } {
  const positions = Array.from({ length: B }, () => Array.from({ length: S }, () => rng.int(S)));
  const valid = Array.from({ length: B }, () => Array.from({ length: S }, () => rng.next() < 0.7));
  return { positions, valid };
}

describe('attentionMask', () => {
  test('equals the element-wise rule for random positions, padding and query counts', () => {
    const rng = new SeededRandom(5);
    for (let trial = 0; trial < 40; trial++) {
      const B = rng.between(1, 4);
      const S = rng.between(1, 9);
      const queries = rng.between(1, S);
      const { positions, valid } = randomSlots(rng, B, S);
      const got = torch.scope(() =>
        toNested(attentionMask(torch.tensor(positions, { dtype: 'int64' }), torch.tensor(valid, { dtype: 'bool' }), queries)),
      );
      expect(got).toEqual(referenceMask(positions, valid, queries));
    }
  });

  test('without a validity mask every slot is real; positions [1, S] broadcast over the batch', () => {
    const got = torch.scope(() => toNested(attentionMask(torch.tensor([[0, 1, 2, 3]], { dtype: 'int64' }), null, 2)));
    expect(got).toEqual(referenceMask([[0, 1, 2, 3]], [[true, true, true, true]], 2));
  });

  test('no row is ever fully masked (padding queries attend to themselves)', () => {
    torch.scope(() => {
      const m = attentionMask(
        torch.tensor([[0, 0, 1]], { dtype: 'int64' }),
        torch.tensor([[false, false, false]], { dtype: 'bool' }),
      );
      expect(Boolean(m.any(-1).all().item())).toBe(true);
    });
  });

  test('bad arguments are range errors', () => {
    torch.scope(() => {
      const positions = torch.tensor([[0, 1, 2]], { dtype: 'int64' });
      expect(() => attentionMask(positions, null, 0)).toThrow(/queries must be an integer in \[1, 3\]/);
      expect(() => attentionMask(positions, null, 4)).toThrow(/queries must be an integer/);
      expect(() => attentionMask(positions, torch.tensor([[true, true]], { dtype: 'bool' }))).toThrow(
        /valid must be \[batch, 3\]/,
      );
    });
  });
});

describe('its users', () => {
  test('Qwen2: slots causal by index, padding from the key mask; implicit without padding', () => {
    torch.scope(() => {
      const keyMask = torch.tensor(
        [
          [false, true, true, true],
          [true, true, false, true],
        ],
        { dtype: 'bool' },
      );
      const got = toNested(buildAttentionMask(keyMask, 2, 2, 'cpu').mask!);
      const slots = [
        [0, 1, 2, 3],
        [0, 1, 2, 3],
      ];
      expect(got).toEqual(
        referenceMask(
          slots,
          [
            [false, true, true, true],
            [true, true, false, true],
          ],
          2,
        ),
      );
      expect(buildAttentionMask(null, 0, 5, 'cpu')).toEqual({ mask: null, isCausal: true });
      expect(buildAttentionMask(null, 7, 1, 'cpu')).toEqual({ mask: null, isCausal: false });
      expect(toNested(buildAttentionMask(null, 1, 2, 'cpu').mask!)).toEqual(referenceMask([[0, 1, 2]], [[true, true, true]], 2));
    });
  });

  test('CacheSlots: stored slots and the new queries', () => {
    const rng = new SeededRandom(9);
    const B = 3;
    const slots = new CacheSlots(B);
    const all = {
      positions: Array.from({ length: B }, (): number[] => []),
      valid: Array.from({ length: B }, (): boolean[] => []),
    };
    for (let pass = 0; pass < 5; pass++) {
      const Tq = rng.between(1, 3);
      const q = randomSlots(rng, B, Tq);
      for (let b = 0; b < B; b++) {
        all.positions[b].push(...q.positions[b]);
        all.valid[b].push(...q.valid[b]);
      }
      const got = torch.scope(() => toNested(slots.mask(q.positions, q.valid, 'cpu')));
      expect(got).toEqual(referenceMask(all.positions, all.valid, Tq));
      slots.append(q.positions, q.valid);
    }
  });
});
