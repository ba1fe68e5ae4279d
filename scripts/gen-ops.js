#!/usr/bin/env node
// Generates the typed operator layer from the operator schemas of the torch we build against:
//   src/torch/generated/ops.ts      typed functions and Tensor methods with PyTorch's names (camelCase),
//                                   argument order and defaults; overloads resolved at run time
//   native/generated/ops_fast.cc    unboxed native entry points for the hot operators (HOT below)
// Every other operator goes through the boxed dispatcher entry (native/dispatch.cc).
//
// Usage: node scripts/gen-ops.js [schemas.json]
//   Without an argument, runs scripts/gen/dump_schemas.py with the Python recorded by the install
//   (.torch-env.json) or $LT_PYTHON.
'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');

// Operators called often enough on small tensors that the boxed call's overhead matters.
const HOT = new Set([
  'add',
  'add_',
  'sub',
  'sub_',
  'mul',
  'mul_',
  'div',
  'div_',
  'neg',
  'matmul',
  'mm',
  'bmm',
  'addmm',
  'linear',
  'view',
  'reshape',
  'permute',
  'transpose',
  'unsqueeze',
  'squeeze',
  'expand',
  'select',
  'slice',
  'narrow',
  'index_select',
  'index',
  'gather',
  'cat',
  'stack',
  'split',
  'chunk',
  'contiguous',
  'clone',
  'detach',
  't',
  'softmax',
  'log_softmax',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'pow',
  'silu',
  'gelu',
  'relu',
  'sigmoid',
  'tanh',
  'sum',
  'mean',
  'amax',
  'argmax',
  'max',
  'min',
  'eq',
  'ne',
  'lt',
  'le',
  'gt',
  'ge',
  'where',
  'masked_fill',
  'masked_fill_',
  'embedding',
  'copy_',
  'zero_',
  'fill_',
  'to',
  'zeros',
  'ones',
  'empty',
  'full',
  'arange',
  'zeros_like',
  'ones_like',
  'empty_like',
  'cross_entropy_loss',
  'nll_loss',
  'scaled_dot_product_attention',
  'dropout',
  'flatten',
  'scatter',
  'topk',
  'sort',
  'cumsum',
  'tril',
  'triu',
  'clamp',
  'abs',
  'square',
  'norm',
  'lerp_',
  'addcmul_',
  'addcdiv_',
  'mul_',
  'detach_',
  'requires_grad_',
  'rms_norm',
  'randn',
  'rand',
  'multinomial',
  'logsumexp',
  'exp_',
  'sqrt_',
]);

// Members written by hand on Tensor (src/torch/tensor.ts): no generated method may shadow them.
const HANDWRITTEN_METHODS = new Set([
  'item',
  'to',
  'size',
  'stride',
  'dim',
  'numel',
  'is_contiguous',
  'requires_grad_',
  'data',
  'backward',
  'retain_grad',
  'is_leaf',
  'grad',
  'dtype',
  'device',
  'shape',
  'tolist',
  'element_size',
  'is_floating_point',
  'is_complex',
  'storage_offset',
  'dispose',
  'cpu',
  'cuda',
  'float',
  'double',
  'half',
  'bfloat16',
  'long',
  'int',
  'bool',
  'type',
  'nbytes',
  'itemsize',
  'output_nr',
  '_version',
  'is_cuda',
  'is_cpu',
]);

const RESERVED = new Set([
  'delete',
  'new',
  'function',
  'var',
  'let',
  'const',
  'default',
  'in',
  'instanceof',
  'typeof',
  'void',
  'with',
  'yield',
  'class',
  'enum',
  'export',
  'import',
  'super',
  'this',
  'true',
  'false',
  'null',
  'case',
  'catch',
  'continue',
  'debugger',
  'do',
  'else',
  'finally',
  'for',
  'if',
  'return',
  'switch',
  'throw',
  'try',
  'while',
  'break',
  'extends',
  'interface',
  'package',
  'private',
  'protected',
  'public',
  'static',
  'arguments',
  'eval',
]);

const camel = (s) => s.replace(/^_+/, '').replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
const tsName = (opName) => {
  // keep PyTorch's trailing underscore for in-place forms: masked_fill_ -> maskedFill_
  const inplace = opName.endsWith('_');
  const base = camel(inplace ? opName.slice(0, -1) : opName);
  return inplace ? base + '_' : base;
};
const argName = (name) => {
  const n = name === 'self' ? 'input' : camel(name);
  return RESERVED.has(n) ? n + '_' : n;
};

// TS names of an operator's arguments: self is `input` as in torch's Python functions, unless the
// schema has its own `input` argument.
function opArgNames(op) {
  const hasInput = op.arguments.some((a) => a.name === 'input');
  return op.arguments.map((a) => (a.name === 'self' && hasInput ? 'self' : argName(a.name)));
}

// Factories (a TensorOptions group in the schema) also take PyTorch's `requiresGrad` keyword.
const isFactory = (op) =>
  op.arguments.some((a) => a.name === 'pin_memory' && a.kwargOnly) && op.returns.length === 1 && op.returns[0].type === 'Tensor';

// ---- schema argument types ---------------------------------------------------------------------

// Parses a schema type string into { base, optional, list, n }.
function parseType(t) {
  let optional = false;
  if (t.endsWith('?')) {
    optional = true;
    t = t.slice(0, -1);
  }
  let list = false,
    n = null;
  const m = /^(.*)\[(\d*)\]$/.exec(t);
  if (m) {
    list = true;
    t = m[1];
    n = m[2] ? Number(m[2]) : null;
  }
  let elemOptional = false;
  if (t.endsWith('?')) {
    elemOptional = true;
    t = t.slice(0, -1);
  }
  return { base: t, optional, list, n, elemOptional };
}

const SUPPORTED_SCALARS = new Set([
  'Tensor',
  'int',
  'SymInt',
  'float',
  'bool',
  'Scalar',
  'str',
  'ScalarType',
  'Device',
  'Layout',
  'MemoryFormat',
  'Generator',
]);

function supported(typeStr) {
  const t = parseType(typeStr);
  if (!SUPPORTED_SCALARS.has(t.base)) return false;
  if (t.base === 'Generator' && !t.optional) return false;
  if (t.list) {
    if (t.base === 'Tensor') return !t.optional; // Tensor[] and Tensor?[]
    if (t.elemOptional) return false;
    return ['int', 'SymInt', 'float', 'bool'].includes(t.base);
  }
  return !t.elemOptional;
}

function tsType(typeStr) {
  const t = parseType(typeStr);
  let ts;
  if (t.list) {
    if (t.base === 'Tensor') ts = t.elemOptional ? '(Tensor | null)[]' : 'Tensor[]';
    else if (t.base === 'bool') ts = 'boolean[]';
    else ts = 'number | number[]';
  } else {
    ts = {
      Tensor: 'Tensor',
      int: 'number',
      SymInt: 'number',
      float: 'number',
      bool: 'boolean',
      Scalar: 'Scalar',
      str: 'string',
      ScalarType: 'DType',
      Device: 'DeviceLike',
      Layout: 'string',
      MemoryFormat: 'MemoryFormat',
      Generator: 'null',
    }[t.base];
  }
  return t.optional && ts !== 'null' ? `${ts} | null` : ts;
}

// A JS expression testing whether `v` can be this argument (overload resolution).
function check(typeStr, v) {
  const t = parseType(typeStr);
  let c;
  if (t.list) {
    c = t.base === 'Tensor' ? `rt.isTL(${v})` : t.base === 'bool' ? `Array.isArray(${v})` : `rt.isNL(${v})`;
  } else {
    c = {
      Tensor: `${v} instanceof Tensor`,
      int: `rt.isN(${v})`,
      SymInt: `rt.isN(${v})`,
      float: `rt.isN(${v})`,
      bool: `typeof ${v} === 'boolean'`,
      Scalar: `rt.isS(${v})`,
      str: `typeof ${v} === 'string'`,
      ScalarType: `rt.isDType(${v})`,
      Device: `rt.isDevice(${v})`,
      Layout: `typeof ${v} === 'string'`,
      MemoryFormat: `typeof ${v} === 'string'`,
      Generator: `${v} == null`,
    }[t.base];
  }
  return t.optional ? `(${v} == null || ${c})` : `(${c})`;
}

// JS literal for a schema default, or undefined when the native side should apply it.
function jsDefault(arg) {
  const d = arg.default;
  if (d === null || d === undefined) return undefined;
  const t = parseType(arg.type);
  if (d === 'None') return 'null';
  if (d === 'True') return 'true';
  if (d === 'False') return 'false';
  if (t.base === 'int' && d === 'Mean') return '1';
  if (t.base === 'int' && d === 'Sum') return '2';
  if (t.base === 'ScalarType') return `'${{ long: 'int64', float: 'float32', double: 'float64', int: 'int32' }[d] || d}'`;
  if (t.base === 'MemoryFormat' || t.base === 'Layout') return `'${d}'`;
  if (t.base === 'str') {
    if (/^'.*'$/.test(d) || /^".*"$/.test(d)) {
      try {
        return JSON.stringify(d[0] === '"' ? JSON.parse(d) : d.slice(1, -1));
      } catch {
        return undefined;
      }
    }
    return undefined;
  }
  if (/^-?[0-9.e+-]+$/.test(d) || d === 'inf' || d === '-inf') {
    const num = d === 'inf' ? 'Infinity' : d === '-inf' ? '-Infinity' : d;
    if (t.list) return t.n && t.n > 1 ? `[${Array(t.n).fill(num).join(', ')}]` : `[${num}]`;
    return num;
  }
  if (/^\[.*\]$/.test(d)) return d.replace(/\s/g, '').replace(/,/g, ', ');
  return undefined;
}

// ---- native (C++) unboxed entry points -----------------------------------------------------------

// How one argument is read in C++: local declaration and the expression passed to at::_ops::X::call.
function cppArg(arg, i) {
  const t = parseType(arg.type);
  const v = `argv[${i}]`;
  const name = `a${i}`;
  const opt = (decl, expr) => ({ decl, expr });
  if (t.list) {
    if (t.base === 'Tensor' && t.elemOptional) return opt(`auto ${name} = arg_optional_tensor_list(env, ${v});`, name);
    if (t.base === 'Tensor') return opt(`auto ${name} = arg_tensor_list(env, ${v});`, name);
    if (t.base === 'bool') {
      return opt(
        `auto ${name}v = arg_bool_list(env, ${v}, ${t.n}); std::array<bool, ${t.n}> ${name}; std::copy_n(${name}v.begin(), ${t.n}, ${name}.begin());`,
        name,
      );
    }
    if (t.base === 'float') {
      if (t.optional)
        return opt(
          `auto ${name} = is_nullish(env, ${v}) ? std::optional<std::vector<double>>() : std::optional<std::vector<double>>(arg_double_list(env, ${v}));`,
          `(${name} ? std::optional<c10::ArrayRef<double>>(*${name}) : std::nullopt)`,
        );
      return opt(`auto ${name} = arg_double_list(env, ${v});`, name);
    }
    const fill =
      t.n && t.n > 1 ? `fixed_length(arg_int_list(env, ${v}), ${t.n}, ${arg.default === '[]'})` : `arg_int_list(env, ${v})`;
    const sym = t.base === 'SymInt';
    if (t.optional) {
      return opt(
        `auto ${name} = is_nullish(env, ${v}) ? std::optional<std::vector<int64_t>>() : std::optional<std::vector<int64_t>>(${fill});`,
        sym
          ? `(${name} ? at::OptionalSymIntArrayRef(c10::fromIntArrayRefSlow(*${name})) : at::OptionalSymIntArrayRef())`
          : `(${name} ? at::OptionalIntArrayRef(*${name}) : at::OptionalIntArrayRef())`,
      );
    }
    return opt(`auto ${name} = ${fill};`, sym ? `c10::fromIntArrayRefSlow(${name})` : name);
  }
  const reader = {
    Tensor: null,
    int: `arg_int(env, ${v})`,
    SymInt: `c10::SymInt(arg_int(env, ${v}))`,
    float: `arg_double(env, ${v})`,
    bool: `arg_bool(env, ${v})`,
    Scalar: `arg_scalar(env, ${v})`,
    str: `arg_string(env, ${v})`,
    ScalarType: `arg_dtype(env, ${v})`,
    Device: `arg_device(env, ${v})`,
    Layout: `arg_layout(env, ${v})`,
    MemoryFormat: `arg_memory_format(env, ${v})`,
  }[t.base];
  if (t.base === 'Generator')
    return opt(`if (!is_nullish(env, ${v})) throw ArgumentError("generators cannot be passed yet");`, 'std::nullopt');
  if (t.base === 'Tensor') {
    if (t.optional) return opt(`auto ${name} = arg_optional_tensor(env, ${v});`, name);
    // Mutated arguments (in-place and out= operators take them as a non-const reference) are held by
    // value. The others are borrowed from the table: single tensors are converted last (see
    // conversionRank), so no JavaScript runs between the lookup and the call, and nothing the call
    // does changes the table; borrowing saves two atomic refcount operations per argument.
    if (arg.mutable) return opt(`at::Tensor ${name} = arg_tensor(env, ${v});`, name);
    return opt(`const at::Tensor& ${name} = arg_tensor_ref(env, ${v});`, name);
  }
  if (t.optional) {
    const ty = {
      int: 'int64_t',
      SymInt: 'c10::SymInt',
      float: 'double',
      bool: 'bool',
      Scalar: 'at::Scalar',
      str: 'std::string',
      ScalarType: 'at::ScalarType',
      Device: 'at::Device',
      Layout: 'at::Layout',
      MemoryFormat: 'at::MemoryFormat',
    }[t.base];
    return opt(`std::optional<${ty}> ${name}; if (!is_nullish(env, ${v})) ${name} = ${reader};`, name);
  }
  return opt(`auto ${name} = ${reader};`, name);
}

function cppReturn(op, callExpr) {
  const rets = op.returns;
  if (op.kind === 'inplace') return `${callExpr};\n  return argv[0];`;
  if (rets.length === 0) return `${callExpr};\n  return make_undefined(env);`;
  if (rets.length === 1) {
    const t = rets[0].type;
    if (t === 'Tensor') return `return make_tensor(env, ${callExpr});`;
    if (t === 'Tensor[]') return `return tensor_list_to_js(env, ${callExpr});`;
    if (t === 'bool') return `return make_bool(env, ${callExpr});`;
    if (t === 'int' || t === 'float') return `return make_double(env, static_cast<double>(${callExpr}));`;
    return null;
  }
  if (rets.every((r) => r.type === 'Tensor')) {
    const parts = rets.map((_, i) => `make_tensor(env, std::get<${i}>(r))`).join(', ');
    return `auto r = ${callExpr};\n  return tuple_to_js(env, {${parts}});`;
  }
  return null;
}

const fastSymbol = (op) => `f_${op.name}${op.overload ? '_' + op.overload : ''}`;
const packedSymbol = (op) => `p_${op.name}${op.overload ? '_' + op.overload : ''}`;

// Int lists (int[], SymInt[], optional or not) are what the packed entry points (p_*) read from the
// pack buffer instead of from a JS array; at most PACK_REGIONS of them per call.
const isIntList = (arg) => {
  const t = parseType(arg.type);
  return t.list && (t.base === 'int' || t.base === 'SymInt');
};
const PACK_REGIONS = 4;
const PACK_REGION = 16; // doubles per region: the length (-1 for None), then up to 15 elements
const packedLists = (op) => op.arguments.filter(isIntList);
const hasPackedEntry = (op) => packedLists(op).length > 0 && packedLists(op).length <= PACK_REGIONS;

// The packed twin of cppArg for an int list: the list comes from pack region `region`.
function cppPackedArg(arg, i, region) {
  const t = parseType(arg.type);
  const name = `a${i}`;
  const n = t.n && t.n > 1 ? t.n : 0;
  const decl = `const PackedInts ${name} = packed_ints(${region}, ${n}, ${arg.default === '[]'}, ${t.optional});`;
  const sym = t.base === 'SymInt';
  if (t.optional) {
    return {
      decl,
      expr: sym
        ? `(${name}.none ? at::OptionalSymIntArrayRef() : at::OptionalSymIntArrayRef(c10::fromIntArrayRefSlow(${name}.ref())))`
        : `(${name}.none ? at::OptionalIntArrayRef() : at::OptionalIntArrayRef(${name}.ref()))`,
    };
  }
  return { decl, expr: sym ? `c10::fromIntArrayRefSlow(${name}.ref())` : `${name}.ref()` };
}

// Conversion order: reading a JS value can run JavaScript (a getter on an array element), which may
// create or release tensors. Plain values are converted first, tensor lists next, single tensors last,
// so that every handle is resolved after the last JavaScript that could change the table has run.
function conversionRank(arg) {
  const t = parseType(arg.type);
  if (t.base !== 'Tensor') return 0;
  return t.list ? 1 : 2;
}

function genFastOp(op, packed = false) {
  let region = 0;
  const args = op.arguments.map((a, i) => (packed && isIntList(a) ? cppPackedArg(a, i, region++) : cppArg(a, i)));
  const order = op.arguments
    .map((a, i) => i)
    .sort((i, j) => conversionRank(op.arguments[i]) - conversionRank(op.arguments[j]) || i - j);
  const ret = cppReturn(
    op,
    `at::_ops::${op.name}${op.overload ? '_' + op.overload : ''}::call(${args.map((a) => a.expr).join(', ')})`,
  );
  if (!ret) return null;
  let mask = 0n;
  op.arguments.forEach((a, i) => {
    if (parseType(a.type).base === 'Tensor' && i < 64) mask |= 1n << BigInt(i);
  });
  const display = `aten::${op.name}${op.overload ? '.' + op.overload : ''}`;
  return `static napi_value ${packed ? packedSymbol(op) : fastSymbol(op)}(napi_env env, napi_callback_info info) {
  LT_ARGS(${op.arguments.length});
  LT_TRY
  ${order.map((i) => args[i].decl).join('\n  ')}
  ${ret}
  LT_CATCH("${display}", argv, argc, ${mask}ull)
}`;
}

// ---- TypeScript -----------------------------------------------------------------------------------

function overloadDoc(op) {
  return `aten::${op.name}${op.overload ? '.' + op.overload : ''}: ${op.schema}`;
}

// TS parameter lists (without self for methods) and the options type. Any named argument may go in the
// trailing options object, so besides the positional form there is one that stops after the required
// arguments and takes every optional one by name: x.sum({ dim: 1, keepdim: true }).
function tsSignatures(op, method) {
  const required = [];
  const params = [];
  const kw = [];
  const optionalPos = [];
  const names = opArgNames(op);
  let sawOptional = false;
  let requiredAfterOptional = false;
  op.arguments.forEach((a, i) => {
    if (method && i === 0) return;
    const ty = tsType(a.type);
    const optional = jsDefault(a) !== undefined || parseType(a.type).optional;
    if (a.kwargOnly) kw.push(`${names[i]}?: ${ty}`);
    else {
      sawOptional = sawOptional || optional;
      params.push(`${names[i]}${sawOptional ? '?' : ''}: ${ty}`);
      if (optional) optionalPos.push(`${names[i]}?: ${ty}`);
      else if (sawOptional) requiredAfterOptional = true;
      else required.push(`${names[i]}: ${ty}`);
    }
  });
  const optsFields = [...optionalPos, ...kw];
  if (isFactory(op)) optsFields.push('requiresGrad?: boolean');
  const optsParam = `opts?: { ${optsFields.join('; ')} }`;
  if (!optsFields.length) return [params.join(', ')];
  const signatures = [[...params, optsParam].join(', ')];
  if (optionalPos.length && !requiredAfterOptional) signatures.push([...required, optsParam].join(', '));
  return signatures;
}

function tsReturnType(op) {
  if (op.kind === 'inplace') return 'Tensor';
  const rets = op.returns;
  if (rets.length === 0) return 'void';
  const one = (r) =>
    ({
      Tensor: 'Tensor',
      'Tensor[]': 'Tensor[]',
      bool: 'boolean',
      int: 'number',
      float: 'number',
      SymInt: 'number',
      Scalar: 'number',
      ScalarType: 'DType',
    })[r.type];
  if (rets.length === 1) return one(rets[0]);
  const tuple = `[${rets.map(one).join(', ')}]`;
  // Tensor tuples with named fields (see tsWrap): torch.max(x, 1).values
  if (rets.every((x) => x.type === 'Tensor' && x.name))
    return `${tuple} & { ${rets.map((x) => `${camel(x.name)}: Tensor`).join('; ')} }`;
  return tuple;
}

function returnSupported(op) {
  if (op.kind === 'inplace') return true;
  return op.returns.every((r) =>
    ['Tensor', 'Tensor[]', 'bool', 'int', 'float', 'SymInt', 'Scalar', 'ScalarType'].includes(r.type),
  );
}

// Converts what native returned into JS objects.
function tsWrap(op, r) {
  if (op.kind === 'inplace') return null; // handled by the caller: returns the receiver
  const rets = op.returns;
  if (rets.length === 1) {
    if (rets[0].type === 'Tensor') return `W(${r})`;
    if (rets[0].type === 'Tensor[]') return `rt.wrapList(${r})`;
    return r;
  }
  if (rets.length === 0) return `(${r}, undefined)`;
  if (rets.every((x) => x.type === 'Tensor'))
    return `rt.wrapTuple(${r}${rets.every((x) => x.name) ? `, ${JSON.stringify(rets.map((x) => camel(x.name)))}` : ''})`;
  return `rt.wrapMixed(${r}, ${JSON.stringify(rets.map((x) => x.type))})`;
}

function genImpl(name, overloads, fastSet) {
  const lines = [];
  lines.push(`function ${tsName(name)}$(a: any[]): any {`);
  lines.push(`  const o = rt.opts(a);`);
  for (const op of overloads) {
    const P = op.arguments.filter((x) => !x.kwargOnly).length;
    const vals = [];
    const conds = [`a.length <= ${P}`];
    const names = opArgNames(op);
    op.arguments.forEach((arg, i) => {
      const v = `v${i}`;
      const an = names[i];
      const key = JSON.stringify(an);
      if (!arg.kwargOnly) vals.push(`let ${v} = a[${i}]; if (${v} === undefined && o !== undefined) ${v} = o[${key}];`);
      else vals.push(`const ${v} = o === undefined ? undefined : o[${key}];`);
      const def = jsDefault(arg);
      const required = def === undefined && !parseType(arg.type).optional;
      conds.push(required ? `${v} !== undefined && ${check(arg.type, v)}` : `(${v} === undefined || ${check(arg.type, v)})`);
    });
    conds.push(`rt.keysIn(o, ${JSON.stringify(isFactory(op) ? [...names, 'requiresGrad'] : names)})`);
    const fast = fastSet.has(op);
    const argExprs = op.arguments.map((arg, i) => {
      const t = parseType(arg.type);
      let v = `v${i}`;
      const def = jsDefault(arg);
      if (fast && def !== undefined) v = `(v${i} === undefined ? ${def} : v${i})`;
      else if (fast && t.optional) v = `(v${i} ?? null)`;
      if (t.base === 'Tensor' && !t.list) return t.optional ? `rt.hOpt(${v})` : `${v}._h`;
      if (t.base === 'Tensor' && t.list) return `rt.hList(${v}, ${JSON.stringify(op.name)}, ${JSON.stringify(names[i])})`;
      return v;
    });
    const call = fast
      ? `N.${fastSymbol(op)}(${argExprs.join(', ')})`
      : `N.callOp(rt.op(${JSON.stringify(op.name)}, ${JSON.stringify(op.overload)}, ${op.kind === 'inplace'}), ${argExprs.join(', ')})`;
    lines.push(`  { // aten::${op.name}${op.overload ? '.' + op.overload : ''}`);
    for (const v of vals) lines.push(`    ${v}`);
    lines.push(`    if (${conds.join(' &&\n        ')}) {`);
    if (op.kind === 'inplace') lines.push(`      ${call};\n      return v0;`);
    else if (isFactory(op)) lines.push(`      return rt.factoryResult(${tsWrap(op, call)}, o);`);
    else lines.push(`      return ${tsWrap(op, call)};`);
    lines.push(`    }`);
    lines.push(`  }`);
  }
  lines.push(`  return rt.noMatch(${JSON.stringify(name)}, a, ${JSON.stringify(overloads.map((op) => op.schema))}, o);`);
  lines.push(`}`);
  return lines.join('\n');
}

// ---- fast paths of the exported functions and methods ------------------------------------------------

// Generated functions take fixed parameters (no rest array) and first try, in the resolver's order,
// the overloads that have unboxed entry points, for calls without an options object: a call that one
// of them takes is the call the resolver (name$) would give the same overload, because these
// conditions are the resolver's own for such calls — every argument check refuses a plain object, and
// positions past an overload's arguments must be undefined. Anything else goes to the resolver.
// Int lists go through the pack buffer (rt.pk) to the packed entry point.
function fastChain(overloads, fastSet) {
  const chain = [];
  for (const op of overloads) {
    if (!fastSet.has(op)) break;
    // A required keyword-only argument cannot be given without options: never this overload here.
    if (op.arguments.some((a) => a.kwargOnly && jsDefault(a) === undefined && !parseType(a.type).optional)) continue;
    chain.push(op);
  }
  const K = Math.max(0, ...chain.map((op) => op.arguments.filter((x) => !x.kwargOnly).length));
  return { chain, K };
}

function fastBranch(op, K) {
  const P = op.arguments.filter((x) => !x.kwargOnly).length;
  const conds = [];
  const packs = [];
  const packed = hasPackedEntry(op);
  let region = 0;
  const argExprs = op.arguments.map((arg, i) => {
    const t = parseType(arg.type);
    const def = jsDefault(arg);
    const v = arg.kwargOnly ? 'undefined' : `a${i}`;
    if (!arg.kwargOnly) {
      const required = def === undefined && !t.optional;
      conds.push(required ? `${v} !== undefined && ${check(arg.type, v)}` : `(${v} === undefined || ${check(arg.type, v)})`);
    }
    const val =
      def !== undefined
        ? arg.kwargOnly
          ? def
          : `(${v} === undefined ? ${def} : ${v})`
        : t.optional
          ? arg.kwargOnly
            ? 'null'
            : `(${v} ?? null)`
          : v;
    if (packed && isIntList(arg)) {
      packs.push(`rt.pk(${val}, ${region++ * PACK_REGION})`);
      return '0';
    }
    if (t.base === 'Tensor' && !t.list) return t.optional ? `rt.hOpt(${val})` : `${val}._h`;
    if (t.base === 'Tensor' && t.list)
      return `rt.hList(${val}, ${JSON.stringify(op.name)}, ${JSON.stringify(opArgNames(op)[i])})`;
    return val;
  });
  for (let i = P; i < K; i++) conds.push(`a${i} === undefined`);
  const call = `N.${packed ? packedSymbol(op) : fastSymbol(op)}(${argExprs.join(', ')})`;
  const ret = op.kind === 'inplace' ? `(${call}, a0)` : tsWrap(op, call);
  return `    if (${[...conds, ...packs].join(' && ')}) return ${ret}; // aten::${op.name}${op.overload ? '.' + op.overload : ''}`;
}

// The body of a generated function (method: a0 is \`this\`), or null when no overload has a fast path.
function genFastFunction(tn, overloads, fastSet, method) {
  const { chain, K } = fastChain(overloads, fastSet);
  if (!chain.length) return null;
  const params = [];
  for (let i = method ? 1 : 0; i < K; i++) params.push(`a${i}?: any`);
  const lines = [];
  lines.push(`(${method ? ['this: Tensor', ...params].join(', ') : params.join(', ')}): any {`);
  lines.push(`  if (arguments.length <= ${method ? K - 1 : K}) {`);
  if (method) lines.push(`    const a0 = this;`);
  for (const op of chain) lines.push(fastBranch(op, K));
  lines.push(`  }`);
  lines.push(`  return ${tn}$(${method ? '[this, ...arguments]' : 'Array.prototype.slice.call(arguments)'});`);
  lines.push(`}`);
  return lines.join('\n');
}

function main() {
  let data;
  const src = process.argv[2];
  if (src) data = JSON.parse(fs.readFileSync(src, 'utf8'));
  else {
    const envFile = path.join(ROOT, '.torch-env.json');
    const python = process.env.LT_PYTHON || (fs.existsSync(envFile) && JSON.parse(fs.readFileSync(envFile, 'utf8')).python);
    if (!python) throw new Error('no Python with torch: run npm install first or set LT_PYTHON');
    data = JSON.parse(execFileSync(python, [path.join(__dirname, 'gen', 'dump_schemas.py')], { maxBuffer: 64 << 20 }).toString());
  }

  const byName = new Map();
  let skipped = 0;
  for (const op of data.operators) {
    if (op.name.startsWith('_') || op.kind === 'out' || op.kind === 'mutable') continue;
    if (!op.arguments.every((a) => supported(a.type)) || !returnSupported(op)) {
      skipped++;
      continue;
    }
    if (op.arguments.length === 0 || parseType(op.arguments[0].type).base !== 'Tensor') {
      if (op.variants.includes('method')) op.variants = op.variants.filter((v) => v !== 'method');
    }
    if (!byName.has(op.name)) byName.set(op.name, []);
    byName.get(op.name).push(op);
  }

  // Native fast entries.
  const fastSet = new Set();
  const fastFns = [];
  const headers = new Set();
  for (const [name, ops] of byName) {
    if (!HOT.has(name)) continue;
    for (const op of ops) {
      const code = genFastOp(op);
      if (!code) continue;
      fastSet.add(op);
      fastFns.push({ op, code, symbol: fastSymbol(op) });
      if (hasPackedEntry(op)) fastFns.push({ op, code: genFastOp(op, true), symbol: packedSymbol(op) });
      headers.add(`#include <ATen/ops/${op.name.replace(/_$/, '')}_ops.h>`);
    }
  }
  const cc = `// GENERATED by scripts/gen-ops.js from the operator schemas of torch ${data.torchVersion}. Do not edit.
// Unboxed entry points for hot operators: each converts its JS arguments and calls at::_ops::<op>::call.
#include "../common.h"

${[...headers].sort().join('\n')}

#include <algorithm>
#include <array>
#include <cmath>

namespace lt {
namespace {

// \`int[2] stride\`: one number stands for all; any other length but n is refused (kernels index these
// lists without checking), except an empty list where that is the schema's default (\`stride=[]\`).
std::vector<int64_t> fixed_length(std::vector<int64_t> v, size_t n, bool empty_ok) {
  if (v.size() == 1 && n > 1) v.assign(n, v[0]);
  else if (v.size() != n && !(empty_ok && v.empty()))
    throw ArgumentError("expected " + std::to_string(n) + " integers (or one for all), got " + std::to_string(v.size()));
  return v;
}

std::vector<bool> arg_bool_list(napi_env env, napi_value v, size_t n) {
  std::vector<bool> out;
  uint32_t len = 0;
  napi_get_array_length(env, v, &len);
  if (len != n) throw ArgumentError("expected " + std::to_string(n) + " booleans");
  for (uint32_t i = 0; i < len; ++i) {
    napi_value e;
    napi_get_element(env, v, i, &e);
    out.push_back(arg_bool(env, e));
  }
  return out;
}

// The pack buffer: int lists of the packed entry points (p_*), written by the JS fast paths right
// before the call (src/torch/op-runtime.ts pk), so that no list element is read through N-API. The
// memory is static: an ArrayBuffer over it that JS detaches cannot free it, only stop the updates.
constexpr int kPackRegion = ${PACK_REGION};
double g_pack[${PACK_REGIONS} * kPackRegion];

napi_value pack_buffer(napi_env env, napi_callback_info) {
  napi_value ab;
  if (napi_create_external_arraybuffer(env, g_pack, sizeof(g_pack), nullptr, nullptr, &ab) != napi_ok) return nullptr;
  return ab;
}

struct PackedInts {
  int64_t v[kPackRegion - 1];
  size_t n = 0;
  bool none = false;
  c10::IntArrayRef ref() const { return c10::IntArrayRef(v, n); }
};

// Region \`r\`: as arg_int_list + fixed_length read them from an array (a length of -1 is None).
PackedInts packed_ints(int r, size_t fixed, bool empty_ok, bool optional) {
  const double* p = g_pack + r * kPackRegion;
  PackedInts out;
  const double len = p[0];
  if (len == -1 && optional) {
    out.none = true;
    return out;
  }
  if (!(len >= 0 && len <= kPackRegion - 1) || len != static_cast<double>(static_cast<int64_t>(len))) throw ArgumentError("malformed int list pack");
  out.n = static_cast<size_t>(len);
  for (size_t i = 0; i < out.n; ++i) {
    const double d = p[1 + i];
    if (!(std::fabs(d) <= 9007199254740991.0) || d != std::trunc(d)) throw ArgumentError("malformed int list pack");
    out.v[i] = static_cast<int64_t>(d);
  }
  if (fixed > 1 && out.n == 1) {
    if (fixed > kPackRegion - 1) throw ArgumentError("int list too long for a pack");
    for (size_t i = 1; i < fixed; ++i) out.v[i] = out.v[0];
    out.n = fixed;
  } else if (fixed > 1 && out.n != fixed && !(empty_ok && out.n == 0)) {
    throw ArgumentError("expected " + std::to_string(fixed) + " integers (or one for all), got " + std::to_string(out.n));
  }
  return out;
}

napi_value tensor_list_to_js(napi_env env, const std::vector<at::Tensor>& list) {
  napi_value arr;
  napi_create_array_with_length(env, list.size(), &arr);
  for (size_t i = 0; i < list.size(); ++i) napi_set_element(env, arr, static_cast<uint32_t>(i), make_tensor(env, list[i]));
  return arr;
}

napi_value tuple_to_js(napi_env env, std::initializer_list<napi_value> values) {
  napi_value arr;
  napi_create_array_with_length(env, values.size(), &arr);
  uint32_t i = 0;
  for (napi_value v : values) napi_set_element(env, arr, i++, v);
  return arr;
}

${fastFns.map((f) => f.code).join('\n\n')}

}  // namespace

void register_fast_ops(napi_env env, napi_value exports) {
  register_exports(env, exports, {
${fastFns.map((f) => `      {"${f.symbol}", ${f.symbol}},`).join('\n')}
      {"packBuffer", pack_buffer},
  });
}

}  // namespace lt
`;

  // TypeScript.
  const fnExports = [];
  const methodDecls = [];
  const methodInstalls = [];
  const impls = [];
  const names = [...byName.keys()].sort();
  const seenTs = new Set();
  for (const name of names) {
    const ops = byName.get(name);
    const tn = tsName(name);
    if (seenTs.has(tn)) continue; // e.g. two schema names mapping to one camelCase name
    seenTs.add(tn);
    impls.push(genImpl(name, ops, fastSet));
    const fnOps = ops.filter((op) => op.variants.includes('function'));
    if (fnOps.length) {
      // A reserved word (torch.var) cannot name a function, but can name an export.
      const reserved = RESERVED.has(tn);
      const fname = reserved ? `${tn}Fn` : tn;
      const exp = reserved ? '' : 'export ';
      const decls = fnOps.flatMap((op) =>
        tsSignatures(op, false).map((sig) => `/** ${overloadDoc(op)} */\n${exp}function ${fname}(${sig}): ${tsReturnType(op)};`),
      );
      const fast = genFastFunction(tn, ops, fastSet, false);
      const impl = fast ? `${exp}function ${fname}${fast}` : `${exp}function ${fname}(...a: any[]): any { return ${tn}$(a); }`;
      fnExports.push(`${decls.join('\n')}\n${impl}` + (reserved ? `\nexport { ${fname} as ${tn} };` : ''));
    }
    const mOps = ops.filter((op) => op.variants.includes('method'));
    if (mOps.length && !HANDWRITTEN_METHODS.has(name)) {
      for (const op of mOps)
        for (const sig of tsSignatures(op, true))
          methodDecls.push(`  /** ${overloadDoc(op)} */\n  ${tn}(${sig}): ${tsReturnType(op)};`);
      const fast = genFastFunction(tn, ops, fastSet, true);
      methodInstalls.push(
        fast
          ? `  proto.${tn} = function ${fast.replace(/\n/g, '\n  ')};`
          : `  proto.${tn} = function (this: Tensor, ...a: any[]) { a.unshift(this); return ${tn}$(a); };`,
      );
    }
  }

  const ts = `// GENERATED by scripts/gen-ops.js from the operator schemas of torch ${data.torchVersion}. Do not edit.
// ${fnExports.length} functions and ${methodInstalls.length} Tensor methods; ${fastSet.size} overloads have unboxed native entry points.
/* eslint-disable */
import { native as N } from '../native';
import { Tensor, wrap as W } from '../tensor';
import type { DType, DeviceLike, MemoryFormat, Scalar } from '../types';
import * as rt from '../op-runtime';

${impls.join('\n\n')}

${fnExports.join('\n\n')}

/** Tensor methods generated from the operator schemas (the method variants of ATen operators). */
export interface GeneratedTensorMethods {
${methodDecls.join('\n')}
}

export function installTensorMethods(proto: any): void {
${methodInstalls.join('\n')}
}

// Frozen, so that re-exporting modules (src/torch/index.ts: export *) get plain data properties:
// TypeScript's CommonJS re-export copies a non-writable, non-configurable property as it is, where it
// would otherwise define a getter — and every torch.add(...) would call that getter first.
Object.freeze(exports);
`;

  fs.mkdirSync(path.join(ROOT, 'native', 'generated'), { recursive: true });
  fs.mkdirSync(path.join(ROOT, 'src', 'torch', 'generated'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'native', 'generated', 'ops_fast.cc'), cc);
  fs.writeFileSync(path.join(ROOT, 'src', 'torch', 'generated', 'ops.ts'), ts);
  console.log(
    `gen-ops: torch ${data.torchVersion}: ${fnExports.length} functions, ${methodInstalls.length} methods, ` +
      `${fastSet.size} unboxed overloads (${skipped} overloads with unsupported types left to torch.ops)`,
  );
}

main();
