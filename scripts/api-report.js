#!/usr/bin/env node
// The public API report: every name the package entry exports (by namespace: torch, models, …), its
// kind and its declared type, from the TypeScript sources, written to api/latent-tokens.api.md. The
// file is committed, so an API change shows in review. `npm run api` rewrites it; `npm run api:check`
// (CI) fails when it is out of date.
'use strict';

const fs = require('fs');
const path = require('path');
const ts = require('typescript');

const root = path.resolve(__dirname, '..');
const entry = path.join(root, 'src', 'index.ts');
const reportFile = path.join(root, 'api', 'latent-tokens.api.md');

const parsed = ts.getParsedCommandLineOfConfigFile(
  path.join(root, 'tsconfig.build.json'),
  {},
  { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
);
const program = ts.createProgram([entry], parsed.options);
const checker = program.getTypeChecker();
const flags = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseAliasDefinedOutsideCurrentScope;

const resolve = (s) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
// Source layout (line breaks, a trailing comma in a destructured parameter) must not show up as an API change.
const oneLine = (text) => text.replace(/\s+/g, ' ').replace(/, }/g, ' }').trim();

function describe(symbol, location) {
  const s = resolve(symbol);
  const f = s.flags;
  if (f & ts.SymbolFlags.Class) {
    const type = checker.getDeclaredTypeOfSymbol(s);
    const members = checker
      .getPropertiesOfType(type)
      .filter(
        (m) =>
          !(ts.getDeclarationModifierFlagsFromSymbol(m) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) &&
          !m.name.startsWith('_'),
      )
      .map(
        (m) => `  ${m.name}: ${oneLine(checker.typeToString(checker.getTypeOfSymbolAtLocation(m, location), location, flags))}`,
      );
    const ctor = checker
      .getTypeOfSymbolAtLocation(s, location)
      .getConstructSignatures()
      .map((c) => `  new${oneLine(checker.signatureToString(c, location, flags))}`);
    return ['class', [...ctor, ...members].join('\n')];
  }
  if (f & ts.SymbolFlags.Function) {
    const sigs = checker.getTypeOfSymbolAtLocation(s, location).getCallSignatures();
    return ['function', sigs.map((c) => oneLine(checker.signatureToString(c, location, flags))).join('\n')];
  }
  if (f & ts.SymbolFlags.Interface || f & ts.SymbolFlags.TypeAlias) {
    const type = checker.getDeclaredTypeOfSymbol(s);
    if (f & ts.SymbolFlags.TypeAlias)
      return ['type', oneLine(checker.typeToString(type, location, flags | ts.TypeFormatFlags.InTypeAlias))];
    const members = checker
      .getPropertiesOfType(type)
      .map(
        (m) =>
          `  ${m.name}${m.flags & ts.SymbolFlags.Optional ? '?' : ''}: ${oneLine(checker.typeToString(checker.getTypeOfSymbolAtLocation(m, location), location, flags))}`,
      );
    return ['interface', members.join('\n')];
  }
  if (f & ts.SymbolFlags.Enum)
    return [
      'enum',
      checker
        .getExportsOfModule(s)
        .map((m) => `  ${m.name}`)
        .join('\n'),
    ];
  if (f & ts.SymbolFlags.Variable)
    return ['const', oneLine(checker.typeToString(checker.getTypeOfSymbolAtLocation(s, location), location, flags))];
  if (f & ts.SymbolFlags.Module) return ['namespace', null];
  return ['other', null];
}

function section(symbol, prefix, location, out) {
  const exports = checker.getExportsOfModule(resolve(symbol)).sort((a, b) => a.name.localeCompare(b.name));
  for (const e of exports) {
    const name = `${prefix}${e.name}`;
    const [kind, text] = describe(e, location);
    if (kind === 'namespace') {
      out.push(`## ${name}\n`);
      section(e, `${name}.`, location, out);
      continue;
    }
    out.push(
      `- \`${kind} ${name}\`${
        text === null
          ? ''
          : text.includes('\n')
            ? `\n\n  \`\`\`ts\n${text
                .split('\n')
                .map((l) => `  ${l}`)
                .join('\n')}\n  \`\`\``
            : `: \`${text}\``
      }`,
    );
  }
  out.push('');
}

const source = program.getSourceFile(entry);
const out = ['# latent-tokens: public API', '', '<!-- Written by scripts/api-report.js (npm run api); do not edit. -->', ''];
section(checker.getSymbolAtLocation(source), '', source, out);
const text = out.join('\n').replace(/\n{3,}/g, '\n\n');

if (process.argv.includes('--check')) {
  const old = fs.existsSync(reportFile) ? fs.readFileSync(reportFile, 'utf8') : '';
  if (old !== text) {
    console.error(
      `${path.relative(root, reportFile)} is out of date: the public API changed. Run \`npm run api\` and commit the report.`,
    );
    process.exit(1);
  }
  console.log(`${path.relative(root, reportFile)} is up to date`);
} else {
  fs.mkdirSync(path.dirname(reportFile), { recursive: true });
  fs.writeFileSync(reportFile, text);
  console.log(`wrote ${path.relative(root, reportFile)} (${text.split('\n').length} lines)`);
}
