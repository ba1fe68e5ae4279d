// torch.testing: numerical checks for tests and research code.
//
//   torch.testing.gradcheck(fn, inputs, {eps, atol, rtol})  — analytic gradients (autograd) against
//     central finite differences, as torch.autograd.gradcheck;
//   torch.testing.assertClose(actual, expected, {atol, rtol}) — as torch.testing.assert_close.
import { AssertionError } from 'assert';
import { Tensor } from './tensor';
import { tensor, type NestedArray } from './creation';
import { scope } from './memory';
import { enableGrad, grad, noGrad } from './autograd';
import { RuntimeError, ValueError } from './errors';
import { isFloatingDType, type DType } from './types';

// ---------------------------------------------------------------------------------------------
// shared helpers

/** The elements of a tensor as float64 numbers, row-major (the tensor may live on any device). */
function valuesOf(t: Tensor): Float64Array {
  return scope(() => {
    const raw = onCpu(t).toTypedArray();
    return raw instanceof Float64Array ? raw : Float64Array.from(raw as ArrayLike<number | bigint>, Number);
  });
}

const onCpu = (t: Tensor): Tensor => (t.device === 'cpu' ? t : t.to('cpu'));

/** "(1, 2)" for flat index 5 of shape [2, 3] — PyTorch's way of naming an element. */
function formatIndex(flat: number, shape: readonly number[]): string {
  if (shape.length === 0) return '()';
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return `(${idx.join(', ')})`;
}

/** Shortest round-trip digits, in exponent form for very small or large magnitudes (1e-6, not 0.000001). */
const fmt = (v: number): string =>
  Number.isFinite(v) && v !== 0 && (Math.abs(v) < 1e-4 || Math.abs(v) >= 1e6) ? v.toExponential() : String(v);

// ---------------------------------------------------------------------------------------------
// gradcheck

export interface GradcheckOptions {
  /** finite-difference step (default 1e-6) */
  eps?: number;
  /** absolute tolerance (default 1e-5) */
  atol?: number;
  /** relative tolerance, relative to the numerical value (default 1e-3) */
  rtol?: number;
  /** throw a GradcheckError on a mismatch (default true); false: return false instead */
  raiseException?: boolean;
}

/** The analytic gradient of a function disagrees with its finite-difference estimate. */
export class GradcheckError extends RuntimeError {
  override name = 'GradcheckError';
}

/** Jacobian of one output with respect to one input: rows = output elements, columns = input elements. */
interface Jacobian {
  rows: number;
  cols: number;
  data: Float64Array;
}

const newJacobian = (rows: number, cols: number): Jacobian => ({ rows, cols, data: new Float64Array(rows * cols) });

type GradFn = (...inputs: Tensor[]) => Tensor | readonly Tensor[];

function outputsOf(result: Tensor | readonly Tensor[]): Tensor[] {
  const list = result instanceof Tensor ? [result] : Array.isArray(result) ? [...result] : null;
  if (!list || !list.every((t) => t instanceof Tensor))
    throw new ValueError('gradcheck: fn must return a Tensor or an array of Tensors');
  return list;
}

/**
 * Checks the gradients that autograd computes for `fn` against central finite differences
 * ((f(x + eps) - f(x - eps)) / 2eps, one input element at a time), for every input that requires
 * grad and every floating output, as torch.autograd.gradcheck. Entries must satisfy
 * |analytic - numerical| <= atol + rtol * |numerical|.
 *
 * Inputs that do not require grad (indices, masks, targets) are passed through unchanged. Inputs
 * that do must be float64: at float32 precision, finite differences with a small eps are noise.
 * Returns true, or throws a GradcheckError naming the output, the input and the worst element
 * (returns false instead with raiseException: false).
 */
export function gradcheck(fn: GradFn, inputs: Tensor | readonly Tensor[], options: GradcheckOptions = {}): boolean {
  const { eps = 1e-6, atol = 1e-5, rtol = 1e-3, raiseException = true } = options;
  if (!(eps > 0)) throw new ValueError(`gradcheck: eps must be > 0, got ${eps}`);
  if (!(atol >= 0) || !(rtol >= 0)) throw new ValueError(`gradcheck: atol and rtol must be >= 0, got atol=${atol}, rtol=${rtol}`);
  const args = inputs instanceof Tensor ? [inputs] : [...inputs];
  args.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new ValueError(`gradcheck: input ${i} is not a Tensor`);
  });
  const diff = args.map((t, i) => (t.requiresGrad ? i : -1)).filter((i) => i >= 0);
  if (diff.length === 0)
    throw new ValueError(
      'gradcheck: no input requires grad, so there is nothing to check (call requiresGrad_() on the inputs to differentiate)',
    );
  for (const i of diff) {
    if (args[i].dtype !== 'float64')
      throw new ValueError(
        `gradcheck: input ${i} is ${args[i].dtype}; inputs that require grad must be float64 (finite differences with eps=${eps} are noise at lower precision)`,
      );
  }

  const mismatch = scope(() => {
    const analytic = analyticJacobians(fn, args, diff);
    const numerical = numericalJacobians(fn, args, diff, eps);
    for (let o = 0; o < numerical.length; o++) {
      for (let d = 0; d < diff.length; d++) {
        const m = compareJacobians(analytic.jacobians[o][d], numerical[o][d], atol, rtol);
        if (m)
          return describeMismatch(
            m,
            analytic.outputIndex[o],
            analytic.outputShapes[o],
            diff[d],
            args[diff[d]].shape,
            analytic.jacobians[o][d],
            numerical[o][d],
            { eps, atol, rtol },
          );
      }
    }
    return null;
  });
  if (mismatch === null) return true;
  if (raiseException) throw new GradcheckError(mismatch);
  return false;
}

/** J[o][d] by reverse mode: one backward pass per output element, with a one-hot grad_output. */
function analyticJacobians(
  fn: GradFn,
  args: Tensor[],
  diff: number[],
): { jacobians: Jacobian[][]; outputIndex: number[]; outputShapes: number[][] } {
  const all = outputsOf(enableGrad(() => fn(...args)));
  // Integer and bool outputs are not differentiable (argmax, masks); PyTorch's gradcheck skips them too.
  const outputIndex = all.map((t, i) => (isFloatingDType(t.dtype) ? i : -1)).filter((i) => i >= 0);
  if (outputIndex.length === 0) throw new ValueError('gradcheck: fn returned no floating-point output to differentiate');
  const outs = outputIndex.map((i) => all[i]);
  const outputShapes = outs.map((t) => t.shape);
  const diffInputs = diff.map((i) => args[i]);
  const jacobians = outs.map((out) => diffInputs.map((x) => newJacobian(out.numel(), x.numel())));
  // Outputs that do not require grad have a zero Jacobian (autograd.grad would refuse them).
  const live = outs.map((t, o) => (t.requiresGrad ? o : -1)).filter((o) => o >= 0);
  for (const o of live) {
    const out = outs[o];
    const n = out.numel();
    for (let row = 0; row < n; row++) {
      scope(() => {
        const gradOutputs = live.map((other) => {
          const oneHot = new Float64Array(outs[other].numel());
          if (other === o) oneHot[row] = 1;
          return tensor(oneHot, { shape: outputShapes[other], device: outs[other].device }).to(outs[other].dtype);
        });
        const grads = grad(
          live.map((i) => outs[i]),
          diffInputs,
          { gradOutputs, retainGraph: true, allowUnused: true },
        );
        grads.forEach((g, d) => {
          if (g === null) return; // unused input: zero row
          const want = diffInputs[d].shape;
          if (g.shape.join(',') !== want.join(','))
            throw new GradcheckError(
              `gradcheck: the gradient of input ${diff[d]} has shape [${g.shape}], but the input has shape [${want}]`,
            );
          jacobians[o][d].data.set(valuesOf(g), row * jacobians[o][d].cols);
        });
      });
    }
  }
  return { jacobians, outputIndex, outputShapes };
}

/** J[o][d] by central differences, one input element at a time, with gradient recording off. */
function numericalJacobians(fn: GradFn, args: Tensor[], diff: number[], eps: number): Jacobian[][] {
  return noGrad(() => {
    // Floating outputs of fn with args[position] replaced, read back as numbers.
    const evaluate = (position: number, replacement: Tensor | null): Float64Array[] =>
      scope(() => {
        const call = args.slice();
        if (replacement) call[position] = replacement;
        return outputsOf(fn(...call))
          .filter((t) => isFloatingDType(t.dtype))
          .map(valuesOf);
      });
    const sizes = evaluate(0, null).map((v) => v.length);
    const jacobians = sizes.map((rows) => diff.map((p) => newJacobian(rows, args[p].numel())));
    diff.forEach((position, d) => {
      const x = args[position];
      const base = valuesOf(x);
      const perturbed = Float64Array.from(base);
      const at = (k: number, v: number): Float64Array[] => {
        perturbed[k] = v;
        const values = scope(() => evaluate(position, tensor(perturbed, { shape: x.shape, dtype: 'float64', device: x.device })));
        perturbed[k] = base[k];
        return values;
      };
      for (let k = 0; k < base.length; k++) {
        const plus = at(k, base[k] + eps);
        const minus = at(k, base[k] - eps);
        sizes.forEach((rows, o) => {
          const [vp, vm] = [plus[o], minus[o]];
          if (vp?.length !== rows || vm?.length !== rows)
            throw new GradcheckError(
              `gradcheck: fn's floating outputs changed number or size when input ${position} was perturbed`,
            );
          const J = jacobians[o][d];
          for (let row = 0; row < rows; row++) J.data[row * J.cols + k] = (vp[row] - vm[row]) / (2 * eps);
        });
      }
    });
    return jacobians;
  });
}

interface JacobianMismatch {
  count: number;
  worstRow: number;
  worstCol: number;
}

function compareJacobians(analytic: Jacobian, numerical: Jacobian, atol: number, rtol: number): JacobianMismatch | null {
  let count = 0;
  let worst = -Infinity;
  let worstAt = -1;
  for (let i = 0; i < numerical.data.length; i++) {
    const a = analytic.data[i];
    const n = numerical.data[i];
    const excess = Math.abs(a - n) - (atol + rtol * Math.abs(n));
    // NaN on either side is a mismatch (excess is NaN then).
    if (!(excess <= 0)) {
      count++;
      const score = Number.isNaN(excess) ? Infinity : excess;
      if (score > worst) {
        worst = score;
        worstAt = i;
      }
    }
  }
  return count === 0 ? null : { count, worstRow: Math.floor(worstAt / numerical.cols), worstCol: worstAt % numerical.cols };
}

const MAX_PRINTED_ENTRIES = 144;

function formatMatrix(J: Jacobian): string {
  const rows: string[] = [];
  for (let r = 0; r < J.rows; r++)
    rows.push('  [' + Array.from(J.data.subarray(r * J.cols, (r + 1) * J.cols), (v) => v.toPrecision(6)).join(', ') + ']');
  return rows.join('\n');
}

function describeMismatch(
  m: JacobianMismatch,
  output: number,
  outputShape: number[],
  input: number,
  inputShape: number[],
  analytic: Jacobian,
  numerical: Jacobian,
  o: Required<Pick<GradcheckOptions, 'eps' | 'atol' | 'rtol'>>,
): string {
  const at = m.worstRow * numerical.cols + m.worstCol;
  const lines = [
    `gradcheck: Jacobian mismatch for output ${output} with respect to input ${input}: ` +
      `${m.count} of ${numerical.data.length} entries differ (eps=${fmt(o.eps)}, atol=${fmt(o.atol)}, rtol=${fmt(o.rtol)})`,
    `  worst: d output${formatIndex(m.worstRow, outputShape)} / d input${formatIndex(m.worstCol, inputShape)}: ` +
      `numerical ${fmt(numerical.data[at])}, analytical ${fmt(analytic.data[at])}`,
  ];
  if (numerical.data.length <= MAX_PRINTED_ENTRIES) {
    lines.push(`numerical (rows: output elements, columns: input elements):\n${formatMatrix(numerical)}`);
    lines.push(`analytical:\n${formatMatrix(analytic)}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// assertClose

export interface AssertCloseOptions {
  /** absolute tolerance; with rtol, both or neither (default: by dtype, as torch.testing.assert_close) */
  atol?: number;
  /** relative tolerance, relative to |expected| */
  rtol?: number;
  /** NaN == NaN (default false) */
  equalNan?: boolean;
  /** require equal dtypes (default true; only applies when both sides are Tensors) */
  checkDtype?: boolean;
  /** require equal devices (default true; only applies when both sides are Tensors) */
  checkDevice?: boolean;
  /** prepended to the failure message */
  msg?: string;
}

// torch.testing.assert_close's default (rtol, atol) per dtype; integers and bool compare exactly.
const DEFAULT_TOLERANCES: Partial<Record<DType, { rtol: number; atol: number }>> = {
  float16: { rtol: 1e-3, atol: 1e-5 },
  bfloat16: { rtol: 1.6e-2, atol: 1e-5 },
  float32: { rtol: 1.3e-6, atol: 1e-5 },
  float64: { rtol: 1e-7, atol: 1e-7 },
};

function defaultTolerance(a: DType, b: DType): { rtol: number; atol: number } {
  const ta = DEFAULT_TOLERANCES[a] ?? { rtol: 0, atol: 0 };
  const tb = DEFAULT_TOLERANCES[b] ?? { rtol: 0, atol: 0 };
  return { rtol: Math.max(ta.rtol, tb.rtol), atol: Math.max(ta.atol, tb.atol) };
}

function fail(msg: string | undefined, text: string): never {
  throw new AssertionError({ message: msg ? `${msg}\n\n${text}` : text });
}

/**
 * Asserts that two tensors (or a tensor and JS numbers/nested arrays) have the same shape (and dtype
 * and device, unless told otherwise) and elementwise |actual - expected| <= atol + rtol * |expected|,
 * as torch.testing.assert_close. Infinities must match exactly; NaN only matches NaN with equalNan.
 * Throws an AssertionError with PyTorch's report (mismatched count, greatest absolute and relative
 * differences and where).
 */
export function assertClose(
  actual: Tensor | NestedArray,
  expected: Tensor | NestedArray,
  options: AssertCloseOptions = {},
): void {
  const { equalNan = false, checkDtype = true, checkDevice = true, msg } = options;
  if ((options.atol === undefined) !== (options.rtol === undefined))
    throw new ValueError(
      `assertClose: give both atol and rtol or neither (got ${options.atol === undefined ? 'rtol' : 'atol'} only)`,
    );
  if ((options.atol !== undefined && !(options.atol >= 0)) || (options.rtol !== undefined && !(options.rtol >= 0)))
    throw new ValueError(`assertClose: atol and rtol must be >= 0, got atol=${options.atol}, rtol=${options.rtol}`);
  scope(() => {
    const bothTensors = actual instanceof Tensor && expected instanceof Tensor;
    const a = actual instanceof Tensor ? actual : tensor(actual, expected instanceof Tensor ? { dtype: expected.dtype } : {});
    const b = expected instanceof Tensor ? expected : tensor(expected, { dtype: a.dtype });
    if (a.shape.join(',') !== b.shape.join(','))
      fail(msg, `The values for attribute 'shape' do not match: [${a.shape}] != [${b.shape}].`);
    if (bothTensors && checkDtype && a.dtype !== b.dtype)
      fail(msg, `The values for attribute 'dtype' do not match: ${a.dtype} != ${b.dtype}.`);
    if (bothTensors && checkDevice && a.device !== b.device)
      fail(msg, `The values for attribute 'device' do not match: ${a.device} != ${b.device}.`);
    const { rtol, atol } =
      options.atol !== undefined ? { rtol: options.rtol!, atol: options.atol } : defaultTolerance(a.dtype, b.dtype);
    const exactInt64 = a.dtype === 'int64' && b.dtype === 'int64';
    const report = exactInt64 ? compareInt64(a, b) : compareValues(valuesOf(a), valuesOf(b), atol, rtol, equalNan);
    if (report) {
      const shape = a.shape;
      const n = a.numel();
      const pct = ((100 * report.mismatched) / n).toFixed(1);
      const what = n === 1 ? 'Scalars' : 'Tensor-likes';
      const lines = [`${what} are not ${atol === 0 && rtol === 0 ? 'equal' : 'close'}!`, ''];
      if (n > 1) lines.push(`Mismatched elements: ${report.mismatched} / ${n} (${pct}%)`);
      const where = (i: number): string => (n > 1 ? ` at index ${formatIndex(i, shape)}` : '');
      lines.push(`Greatest absolute difference: ${fmt(report.maxAbs)}${where(report.maxAbsAt)} (up to ${fmt(atol)} allowed)`);
      lines.push(`Greatest relative difference: ${fmt(report.maxRel)}${where(report.maxRelAt)} (up to ${fmt(rtol)} allowed)`);
      fail(msg, lines.join('\n'));
    }
  });
}

interface CloseReport {
  mismatched: number;
  maxAbs: number;
  maxAbsAt: number;
  maxRel: number;
  maxRelAt: number;
}

function compareValues(a: Float64Array, b: Float64Array, atol: number, rtol: number, equalNan: boolean): CloseReport | null {
  const r: CloseReport = { mismatched: 0, maxAbs: -1, maxAbsAt: 0, maxRel: -1, maxRelAt: 0 };
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    let ok: boolean;
    if (Number.isNaN(x) || Number.isNaN(y)) ok = equalNan && Number.isNaN(x) && Number.isNaN(y);
    else if (!Number.isFinite(x) || !Number.isFinite(y)) ok = x === y;
    else ok = Math.abs(x - y) <= atol + rtol * Math.abs(y);
    if (ok) continue;
    r.mismatched++;
    const abs = Number.isNaN(x) || Number.isNaN(y) ? NaN : x === y ? 0 : Math.abs(x - y);
    const rel = abs === 0 ? 0 : abs / Math.abs(y);
    // NaN differences rank above any number, so the report points at them.
    if (!(abs <= r.maxAbs)) [r.maxAbs, r.maxAbsAt] = [abs, i];
    if (!(rel <= r.maxRel)) [r.maxRel, r.maxRelAt] = [rel, i];
  }
  return r.mismatched ? r : null;
}

/** int64 values compare exactly as BigInts (beyond 2^53 a float64 comparison would round). */
function compareInt64(a: Tensor, b: Tensor): CloseReport | null {
  const x = onCpu(a).toTypedArray() as BigInt64Array;
  const y = onCpu(b).toTypedArray() as BigInt64Array;
  const r: CloseReport = { mismatched: 0, maxAbs: -1, maxAbsAt: 0, maxRel: -1, maxRelAt: 0 };
  for (let i = 0; i < x.length; i++) {
    if (x[i] === y[i]) continue;
    r.mismatched++;
    const abs = Number(x[i] > y[i] ? x[i] - y[i] : y[i] - x[i]);
    const rel = y[i] === 0n ? Infinity : abs / Math.abs(Number(y[i]));
    if (abs > r.maxAbs) [r.maxAbs, r.maxAbsAt] = [abs, i];
    if (rel > r.maxRel) [r.maxRel, r.maxRelAt] = [rel, i];
  }
  return r.mismatched ? r : null;
}
