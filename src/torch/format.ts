// PyTorch-style printing of tensors: tensor([[1.0000, 2.5000], ...], dtype=torch.float64, requires_grad=True)
import type { Tensor } from './tensor';

const THRESHOLD = 1000; // elements before summarising, as torch.set_printoptions's default
const EDGE = 3;

function formatNumbers(values: number[], dtype: string): (v: number) => string {
  if (dtype === 'bool') return (v) => (v ? 'True' : 'False');
  if (!['float32', 'float64', 'bfloat16', 'float16'].includes(dtype)) return (v) => String(v);
  const finite = values.filter((v) => Number.isFinite(v));
  const allInts = finite.every((v) => Number.isInteger(v));
  const absMax = finite.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const absMin = finite.filter((v) => v !== 0).reduce((m, v) => Math.min(m, Math.abs(v)), Infinity);
  const special = (v: number) => (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');
  if (allInts && absMax < 1e8) return (v) => (Number.isFinite(v) ? `${v}.` : special(v));
  if (absMax >= 1e8 || (finite.length && absMax / absMin > 1000) || (absMin < 1e-4 && absMin !== Infinity)) {
    return (v) => (Number.isFinite(v) ? v.toExponential(4).replace(/e([+-])(\d)$/, 'e$10$2') : special(v));
  }
  return (v) => (Number.isFinite(v) ? v.toFixed(4) : special(v));
}

export function formatTensor(t: Tensor): string {
  if (t.isDisposed) return 'tensor(<disposed>)';
  const shape = t.shape;
  const dtype = t.dtype;
  const numel = shape.reduce((a, b) => a * b, 1);
  const summarise = numel > THRESHOLD;
  // Read only what will be printed: a small tensor whole, a large one element by element at the edges.
  const flat = summarise ? null : (Array.from(t.toTypedArray() as ArrayLike<number | bigint>, Number) as number[]);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const indices = (dim: number): number[] => {
    const n = shape[dim];
    if (!summarise || n <= 2 * EDGE) return [...Array(n).keys()];
    return [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i)];
  };
  let values: number[] = [];
  let fetch: (offset: number) => number;
  if (flat) {
    values = flat;
    fetch = (o) => flat[o];
  } else {
    const flatView = t.reshape([-1]);
    const cache = new Map<number, number>();
    const gather = (dim: number, offset: number) => {
      if (dim === shape.length) {
        cache.set(offset, 0);
        return;
      }
      for (const i of indices(dim)) if (i >= 0) gather(dim + 1, offset + i * strides[dim]);
    };
    gather(0, 0);
    const offsets = [...cache.keys()];
    const idx = require('./index').tensor(offsets, { dtype: 'int64' });
    const picked = flatView.indexSelect(0, idx);
    const got = Array.from(picked.toTypedArray() as ArrayLike<number | bigint>, Number) as number[];
    offsets.forEach((o, i) => cache.set(o, got[i]));
    [flatView, idx, picked].forEach((x) => x.dispose());
    values = got;
    fetch = (o) => cache.get(o)!;
  }
  const fmt = formatNumbers(values, dtype);
  const width = values.reduce((w, v) => Math.max(w, fmt(v).length), 1);
  const render = (dim: number, offset: number, indent: number): string => {
    if (dim === shape.length) return fmt(fetch(offset)).padStart(width);
    const parts = indices(dim).map((i) => (i < 0 ? '...' : render(dim + 1, offset + i * strides[dim], indent + 1)));
    const sep = dim === shape.length - 1 ? ', ' : ',' + '\n'.repeat(shape.length - dim - 1) + ' '.repeat(indent + 1);
    return `[${parts.join(sep)}]`;
  };
  const body = shape.length === 0 ? fmt(fetch(0)) : render(0, 0, 7);
  const extras: string[] = [];
  const device = t.device;
  if (device !== 'cpu') extras.push(`device='${device}'`);
  if (!['float32', 'int64', 'bool'].includes(dtype)) extras.push(`dtype=torch.${dtype}`);
  if (numel === 0) extras.push(`size=(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`);
  const gradFn = t.gradFn;
  if (gradFn) extras.push(`grad_fn=<${gradFn}>`);
  else if (t.requiresGrad) extras.push('requires_grad=True');
  return `tensor(${body}${extras.length ? ', ' + extras.join(', ') : ''})`;
}
