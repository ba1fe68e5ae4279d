// PyTorch-style printing of tensors, character for character as repr() in torch/_tensor_str.py with
// the default print options: tensor([[1.0000, 2.5000], ...], dtype=torch.float64, requires_grad=True).
import { native as N } from './native';
import * as util from 'util';
import { wrap, type Tensor } from './tensor';

// torch.set_printoptions defaults
const PRECISION = 4;
const THRESHOLD = 1000; // elements before summarising
const EDGE_ITEMS = 3;
const LINE_WIDTH = 80;
const PREFIX = 'tensor(';
const FLOAT_DTYPES = new Set(['float32', 'float64', 'bfloat16', 'float16']);
// dtypes repr() does not name (the default float dtype, int64 and bool)
const DEFAULT_DTYPES = new Set(['float32', 'int64', 'bool']);

// ---- Python's float formatting ----
// Python formats the exact binary value with round-half-even ("{:.4f}".format(0.03125) == '0.0312');
// JS toFixed/toExponential round ties away from zero, so the digits are computed exactly here.

/** |v| as an exact decimal: the integer `digits` over 10^scale. */
function exactDecimal(v: number): { digits: bigint; scale: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(v));
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const exponentBits = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exponent: number;
  if (exponentBits === 0) exponent = -1074;
  else {
    mantissa |= 1n << 52n;
    exponent = exponentBits - 1075;
  }
  // mantissa * 2^exponent == mantissa * 5^-exponent / 10^-exponent
  if (exponent >= 0) return { digits: mantissa << BigInt(exponent), scale: 0 };
  return { digits: mantissa * 5n ** BigInt(-exponent), scale: -exponent };
}

/** Divides by 10^drop, rounding half to even. */
function roundDrop(digits: bigint, drop: number): bigint {
  if (drop <= 0) return digits * 10n ** BigInt(-drop);
  const unit = 10n ** BigInt(drop);
  let q = digits / unit;
  const r2 = (digits % unit) * 2n;
  if (r2 > unit || (r2 === unit && q % 2n === 1n)) q += 1n;
  return q;
}

const signOf = (v: number): string => (v < 0 || Object.is(v, -0) ? '-' : '');
const nonFinite = (v: number): string => (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');

/** Python's f"{v:.{precision}f}". */
function pyFixed(v: number, precision: number): string {
  if (!Number.isFinite(v)) return nonFinite(v);
  const { digits, scale } = exactDecimal(v);
  const s = roundDrop(digits, scale - precision)
    .toString()
    .padStart(precision + 1, '0');
  const int = s.slice(0, s.length - precision);
  return signOf(v) + (precision ? `${int}.${s.slice(s.length - precision)}` : int);
}

/** Python's f"{v:.{precision}e}". */
function pyExponential(v: number, precision: number): string {
  if (!Number.isFinite(v)) return nonFinite(v);
  const { digits, scale } = exactDecimal(v);
  let mantissa: bigint;
  let exponent: number;
  if (digits === 0n) {
    mantissa = 0n;
    exponent = 0;
  } else {
    const length = digits.toString().length;
    exponent = length - 1 - scale;
    mantissa = roundDrop(digits, length - (precision + 1));
    if (mantissa.toString().length > precision + 1) {
      mantissa /= 10n; // 9.99995 rounded up to 10.0000
      exponent += 1;
    }
  }
  const m = mantissa.toString().padEnd(precision + 1, '0');
  const e = `${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  return `${signOf(v)}${m[0]}${precision ? '.' + m.slice(1) : ''}e${e}`;
}

// ---- torch/_tensor_str.py ----

type Value = number | string; // floats as numbers; integers and booleans already as text

interface Formatter {
  width: number;
  format(v: Value): string;
}

/** _Formatter: one width and one notation for every printed element. */
function makeFormatter(values: Value[], floating: boolean): Formatter {
  let width = 1;
  const pad = (s: string) => s.padStart(width);
  if (!floating) {
    for (const v of values) width = Math.max(width, String(v).length);
    return { width, format: (v) => pad(String(v)) };
  }
  const nonzeroFinite = (values as number[]).filter((v) => Number.isFinite(v) && v !== 0);
  let intMode = true;
  let sciMode = false;
  if (nonzeroFinite.length) {
    const abs = nonzeroFinite.map(Math.abs);
    const min = Math.min(...abs);
    const max = Math.max(...abs);
    intMode = nonzeroFinite.every(Number.isInteger);
    sciMode = max / min > 1000 || max > 1e8 || min < 1e-4;
    for (const v of nonzeroFinite) {
      const len = sciMode
        ? pyExponential(v, PRECISION).length
        : intMode
          ? pyFixed(v, 0).length + 1
          : pyFixed(v, PRECISION).length;
      width = Math.max(width, len);
    }
  }
  const format = (value: Value): string => {
    const v = value as number;
    if (sciMode) return pad(pyExponential(v, PRECISION));
    if (intMode) return pad(pyFixed(v, 0) + (Number.isFinite(v) ? '.' : ''));
    return pad(pyFixed(v, PRECISION));
  };
  return { width, format };
}

/** Python's str(tuple(shape)). */
const shapeTuple = (shape: number[]): string => `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;

/** _add_suffixes: suffixes go on the last line while it stays within the line width. */
function addSuffixes(text: string, suffixes: string[], indent: number): string {
  const parts = [text];
  let lastLineLength = text.length - text.lastIndexOf('\n') + 1;
  for (const suffix of suffixes) {
    if (lastLineLength + suffix.length + 2 > LINE_WIDTH) {
      parts.push(',\n' + ' '.repeat(indent) + suffix);
      lastLineLength = indent + suffix.length;
    } else {
      parts.push(', ' + suffix);
      lastLineLength += suffix.length + 2;
    }
  }
  parts.push(')');
  return parts.join('');
}

/** The printed values of a non-empty tensor, by row-major offset (only the edges of a summarised one). */
function printedValues(
  t: Tensor,
  shape: number[],
  summarise: boolean,
  offsetsOf: (dim: number) => number[],
  strides: number[],
): Map<number, Value> {
  const offsets: number[] = [];
  const visit = (dim: number, offset: number): void => {
    if (dim === shape.length) offsets.push(offset);
    else for (const i of offsetsOf(dim)) visit(dim + 1, offset + i * strides[dim]);
  };
  visit(0, 0);
  const dtype = t.dtype;
  const toValue = (v: number | bigint): Value =>
    dtype === 'bool' ? (v ? 'True' : 'False') : FLOAT_DTYPES.has(dtype) ? (v as number) : String(v);
  const values = new Map<number, Value>();
  if (!summarise) {
    const flat = t.toTypedArray() as ArrayLike<number | bigint>;
    for (const o of offsets) values.set(o, toValue(flat[o]));
    return values;
  }
  // Read only the edges: one gather instead of copying a possibly huge tensor out.
  const flatView = t.reshape([-1]);
  const index = wrap(N.fromBytes(BigInt64Array.from(offsets, BigInt), 'int64', [offsets.length]));
  const picked = flatView.indexSelect(0, index);
  try {
    const got = picked.toTypedArray() as ArrayLike<number | bigint>;
    offsets.forEach((o, i) => values.set(o, toValue(got[i])));
  } finally {
    [flatView, index, picked].forEach((x) => x.dispose());
  }
  return values;
}

function tensorBody(t: Tensor, shape: number[], numel: number): string {
  const summarise = numel > THRESHOLD;
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  // Indices printed along a dimension; -1 marks the ellipsis.
  const indicesOf = (dim: number): number[] => {
    const n = shape[dim];
    if (!summarise || n <= 2 * EDGE_ITEMS) return [...Array(n).keys()];
    return [...Array(EDGE_ITEMS).keys(), -1, ...Array.from({ length: EDGE_ITEMS }, (_, i) => n - EDGE_ITEMS + i)];
  };
  const values = printedValues(t, shape, summarise, (d) => indicesOf(d).filter((i) => i >= 0), strides);
  const formatter = makeFormatter([...values.values()], FLOAT_DTYPES.has(t.dtype));
  const fmt = (offset: number) => formatter.format(values.get(offset)!);
  if (shape.length === 0) return fmt(0);

  const render = (dim: number, offset: number, indent: number): string => {
    const indices = indicesOf(dim);
    if (dim === shape.length - 1) {
      // _vector_str: as many elements per line as fit in the line width
      const items = indices.map((i) => (i < 0 ? ' ...' : fmt(offset + i * strides[dim])));
      const perLine = Math.max(1, Math.floor((LINE_WIDTH - indent) / (formatter.width + 2)));
      const lines: string[] = [];
      for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
      return `[${lines.join(',\n' + ' '.repeat(indent + 1))}]`;
    }
    const slices = indices.map((i) => (i < 0 ? '...' : render(dim + 1, offset + i * strides[dim], indent + 1)));
    return `[${slices.join(',' + '\n'.repeat(shape.length - dim - 1) + ' '.repeat(indent + 1))}]`;
  };
  return render(0, 0, PREFIX.length);
}

export function formatTensor(t: Tensor): string {
  if (t.isDisposed) return 'tensor(<disposed>)';
  const shape = t.shape;
  const dtype = t.dtype;
  const numel = shape.reduce((a, b) => a * b, 1);
  const suffixes: string[] = [];
  const device = t.device;
  if (device !== 'cpu') suffixes.push(`device='${device}'`);
  let body: string;
  if (numel === 0) {
    if (shape.length !== 1) suffixes.push(`size=${shapeTuple(shape)}`);
    // An empty tensor shows no elements to infer int64 from, so only float32 goes unnamed.
    if (dtype !== 'float32') suffixes.push(`dtype=torch.${dtype}`);
    body = '[]';
  } else {
    if (!DEFAULT_DTYPES.has(dtype)) suffixes.push(`dtype=torch.${dtype}`);
    body = tensorBody(t, shape, numel);
  }
  const gradFn = t.gradFn;
  if (gradFn) suffixes.push(`grad_fn=<${gradFn}>`);
  else if (t.requiresGrad) suffixes.push('requires_grad=True');
  return addSuffixes(PREFIX + body, suffixes, PREFIX.length);
}

/**
 * Gives tensors PyTorch's printing (`toString`, and `console.log` through util.inspect). Installed by
 * the torch entry point rather than declared in tensor.ts, because printing reads values back through
 * tensors itself and tensor.ts must not import it back.
 */
export function installFormatting(proto: { toString(): string }): void {
  Object.defineProperty(proto, 'toString', {
    value: function (this: Tensor) {
      return formatTensor(this);
    },
    writable: true,
    configurable: true,
  });
  Object.defineProperty(proto, util.inspect.custom, {
    value: function (this: Tensor) {
      return formatTensor(this);
    },
    writable: true,
    configurable: true,
  });
}
