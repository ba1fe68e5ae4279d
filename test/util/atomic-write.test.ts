import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeAll, writeFileAtomic, writeTextAtomic } from '../../src/util/atomic-write';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-write-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  test('creates a file and replaces an existing one, leaving no temporary file', () => {
    const file = path.join(dir, 'a.txt');
    writeTextAtomic(file, 'first');
    expect(fs.readFileSync(file, 'utf8')).toBe('first');
    writeTextAtomic(file, 'zweite ü');
    expect(fs.readFileSync(file, 'utf8')).toBe('zweite ü');
    expect(fs.readdirSync(dir)).toEqual(['a.txt']);
  });

  test('a writer that throws leaves the previous content and no temporary file', () => {
    const file = path.join(dir, 'b.json');
    writeTextAtomic(file, '{"old":1}');
    const cause = new Error('disk went away');
    expect(() =>
      writeFileAtomic(file, (fd) => {
        writeAll(fd, Buffer.from('{"new":'));
        throw cause;
      }),
    ).toThrow('disk went away');
    expect(fs.readFileSync(file, 'utf8')).toBe('{"old":1}');
    expect(fs.readdirSync(dir)).toEqual(['b.json']);
  });

  test('writeAll writes every byte of a buffer larger than one page', () => {
    const file = path.join(dir, 'c.bin');
    const bytes = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
    writeFileAtomic(file, (fd) => writeAll(fd, bytes));
    expect(Buffer.compare(fs.readFileSync(file), Buffer.from(bytes))).toBe(0);
  });

  test('a missing directory is an error, not a silent partial write', () => {
    expect(() => writeTextAtomic(path.join(dir, 'missing', 'd.txt'), 'x')).toThrow(/ENOENT/);
  });
});
