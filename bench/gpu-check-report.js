#!/usr/bin/env node
// The summary of bench/gpu-check.sh: one markdown table from the check's steps and the benchmarks'
// JSON results (bench/lib's SuiteResult), and the same as JSON. Plain JavaScript, so that it runs on
// the GPU machine with nothing but the node binary brought along.
//
//   node bench/gpu-check-report.js --json OUT.json [--floor FLOOR.json] [--step NAME=TEXT]... [LABEL=RESULT.json]...
//
// A benchmark whose result file is missing (it failed or timed out) is listed as failed. Rows: every
// case, ours and PyTorch (medians) and their ratio; for latent-step, the fused/composed speed-up of ours.
'use strict';

const fs = require('fs');

function parseArgs(argv) {
  const args = { json: null, floor: null, steps: [], benches: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') args.json = argv[++i];
    else if (a === '--floor') args.floor = argv[++i];
    else if (a === '--step') {
      const v = argv[++i] ?? '';
      const eq = v.indexOf('=');
      if (eq < 1) throw new Error(`--step expects NAME=TEXT, got ${JSON.stringify(v)}`);
      args.steps.push({ name: v.slice(0, eq), result: v.slice(eq + 1) });
    } else {
      const eq = a.indexOf('=');
      if (eq < 1) throw new Error(`expected LABEL=RESULT.json, got ${JSON.stringify(a)}`);
      args.benches.push({ label: a.slice(0, eq), file: a.slice(eq + 1) });
    }
  }
  if (!args.json) throw new Error('--json OUT.json is required');
  return args;
}

function duration(ns) {
  if (ns === null || ns === undefined) return '–';
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns.toFixed(0)} ns`;
}
const ratio = (r) => (r === null || r === undefined || !Number.isFinite(r) ? '–' : `${r.toFixed(2)}×`);

/** Rows of one benchmark result: [{case, ours, pytorch, ratio, note}]. */
function benchRows(label, result) {
  const median = new Map(result.rows.map((r) => [r.name, r.ours.summary.median]));
  return result.rows.map((r) => {
    const pytorch = r.counterparts.pytorch ? r.counterparts.pytorch.summary.median : null;
    let note = '';
    // latent-step: the fused kernel's speed-up over our own composition of the same ops
    if (label.startsWith('latent-step') && r.name.endsWith('.fused')) {
      const composed = median.get(r.name.replace(/\.fused$/, '.composed'));
      if (composed !== undefined) note = `fused ${ratio(composed / r.ours.summary.median)} faster than composed`;
    }
    return {
      case: r.name,
      ours: r.ours.summary.median,
      pytorch,
      ratio: pytorch === null ? null : r.ours.summary.median / pytorch,
      note,
    };
  });
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const benchmarks = args.benches.map(({ label, file }) => {
    if (!fs.existsSync(file)) return { label, status: 'failed (no result; see its log)', rows: [] };
    const result = JSON.parse(fs.readFileSync(file, 'utf8'));
    const pytorch = result.counterparts.find((c) => c.id === 'pytorch');
    const status = pytorch && pytorch.unavailable ? `ran; PyTorch unavailable: ${pytorch.unavailable}` : 'ran';
    return { label, status, title: result.title, rows: benchRows(label, result) };
  });
  const floor = args.floor && fs.existsSync(args.floor) ? JSON.parse(fs.readFileSync(args.floor, 'utf8')) : null;

  const lines = ['', '## gpu-check', '', '| step | result |', '|---|---|'];
  for (const s of args.steps) lines.push(`| ${s.name} | ${s.result} |`);
  for (const b of benchmarks) lines.push(`| ${b.label} | ${b.status} |`);
  lines.push('', '| benchmark | case | ours | PyTorch | ours/PyTorch | note |', '|---|---|--:|--:|--:|---|');
  for (const b of benchmarks)
    for (const r of b.rows)
      lines.push(`| ${b.label} | ${r.case} | ${duration(r.ours)} | ${duration(r.pytorch)} | ${ratio(r.ratio)} | ${r.note} |`);
  if (floor) {
    const bw = `${(floor.copyBandwidth / 1e9).toFixed(1)} GB/s`;
    lines.push(
      '',
      `decode per token vs the memory-bandwidth floor (${(floor.weightBytes / 1e6).toFixed(1)} MB of ${floor.dtype} weights / ${bw} copy bandwidth = ${duration(floor.floorNs)}): ` +
        `ours ${ratio(floor.oursNs / floor.floorNs)}, PyTorch ${floor.pytorchNs === null ? '–' : ratio(floor.pytorchNs / floor.floorNs)}`,
    );
  }
  const summary = { steps: args.steps, benchmarks, decodeFloor: floor };
  fs.writeFileSync(args.json, JSON.stringify(summary, null, 2));
  console.log(lines.join('\n'));
}

try {
  main();
} catch (error) {
  console.error(`gpu-check-report: ${error.message}`);
  process.exit(2);
}
