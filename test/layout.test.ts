/**
 * The README's layout section (the layer table and the paragraph after it) names every directory of src/ and native/,
 * and names none that does not exist. In a table row, a relative name (`qwen2/`) is inside the row's first directory
 * (`src/models/`); elsewhere only names starting with `src/` or `native/` count.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '..');
const ROOTS = ['src', 'native'];

/** The README from the layer table's header up to the next heading. */
function layoutSection(readme: string): string[] {
  const lines = readme.split('\n');
  const start = lines.findIndex((line) => /^\|\s*layer\s*\|\s*where\s*\|/.test(line));
  if (start < 0) throw new Error('README.md has no layer table (a row starting "| layer | where |")');
  const end = lines.findIndex((line, i) => i > start && line.startsWith('#'));
  return lines.slice(start, end < 0 ? undefined : end);
}

/** Directories (relative to the repository, without the trailing slash) that the layout section names. */
function namedDirectories(section: readonly string[]): Set<string> {
  const named = new Set<string>();
  for (const line of section) {
    const names = [...line.matchAll(/`([\w./-]+\/)`/g)].map((match) => match[1].replace(/\/+$/, ''));
    const isAbsolute = (name: string): boolean => ROOTS.some((root) => name === root || name.startsWith(`${root}/`));
    const base = line.startsWith('|') ? names.find(isAbsolute) : undefined;
    for (const name of names) {
      if (isAbsolute(name)) named.add(name);
      else if (base !== undefined) named.add(path.posix.join(base, name));
    }
  }
  return named;
}

/** Every directory under `root` (relative to the repository), `root` included. */
function directoriesUnder(root: string): string[] {
  const found = [root];
  for (const entry of fs.readdirSync(path.join(REPO_ROOT, root), { withFileTypes: true })) {
    if (entry.isDirectory()) found.push(...directoriesUnder(path.posix.join(root, entry.name)));
  }
  return found;
}

describe("the README's layout", () => {
  const named = namedDirectories(layoutSection(fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8')));
  const existing = ROOTS.flatMap(directoriesUnder);

  test('names every directory under src/ and native/', () => {
    expect(existing.filter((dir) => !named.has(dir))).toEqual([]);
  });

  test('names no directory that does not exist', () => {
    expect([...named].filter((dir) => !existing.includes(dir))).toEqual([]);
  });

  test('the reading of the section: relative names are inside their row, other text counts only src/ and native/', () => {
    const section = [
      '| layer | where | what |',
      '|---|---|---|',
      '| models | `src/models/` | Qwen2 (`qwen2/`), and `src/util/` too |',
      'Prose naming `src/hub/` and `models/`, which is not a row.',
    ];
    expect([...namedDirectories(section)].sort()).toEqual(['src/hub', 'src/models', 'src/models/qwen2', 'src/util']);
    expect(() => layoutSection('# no table here\n')).toThrow(/no layer table/);
  });
});
