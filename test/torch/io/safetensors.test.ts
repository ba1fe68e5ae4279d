import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

import {
  INDEX_FILE_NAME,
  SAFE_DTYPES,
  SINGLE_FILE_NAME,
  SafetensorsError,
  SafetensorsFile,
  ShardedSafetensors,
  formatIndexJson,
  isSafeDtype,
  itemSize,
  planSafetensors,
  safeDtypeOf,
  tensorByteLength,
  torchDtypeOf,
  writeSafetensors,
  writeSharded,
  type SafeDtype,
  type TensorToWrite,
} from '../../../src/torch/io/safetensors';
import { DTYPES } from '../../../src/torch/types';
import { SeededRandom, expectSafetensorsError, findPython, runPython, tempDirForEachTest } from './safetensors-helpers';

let dir: string;
tempDirForEachTest('safetensors-test', (d) => (dir = d));

/** Header bytes of a file: [declared length, JSON text including padding]. */
function rawHeader(path: string): { length: number; text: string } {
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  return { length, text: bytes.subarray(8, 8 + length).toString('utf8') };
}

/** Writes a file with a hand-made header and data section. */
function writeRaw(path: string, header: string | Buffer, data: Uint8Array = new Uint8Array(0)): string {
  const headerBytes = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  writeFileSync(path, Buffer.concat([prefix, headerBytes, data]));
  return path;
}

/** Random bytes, except 0/1 for BOOL (torch normalizes other bool bytes when it copies). */
function randomTensor(random: SeededRandom, name: string, dtype: SafeDtype, shape: number[]): TensorToWrite {
  const data = random.bytes(tensorByteLength(dtype, shape));
  if (dtype === 'BOOL') data.forEach((byte, i) => (data[i] = byte & 1));
  return { name, dtype, shape, data };
}

describe('dtype helpers', () => {
  // Item sizes and the names safetensors writes for each torch dtype are checked against torch and
  // the safetensors package in the interop tests below.
  test('dtype names of the format', () => {
    expect(isSafeDtype('F32')).toBe(true);
    expect(isSafeDtype('f32')).toBe(false);
    expect(isSafeDtype('F4')).toBe(false);
  });

  test('torch dtype names map both ways', () => {
    for (const name of DTYPES) expect(torchDtypeOf(safeDtypeOf(name))).toBe(name);
    expect(torchDtypeOf('F8_E4M3')).toBeUndefined();
    expect(torchDtypeOf('U32')).toBeUndefined();
  });

  test('tensorByteLength validates shapes and reports overflow', () => {
    expect(tensorByteLength('F32', [2, 3])).toBe(24);
    expect(tensorByteLength('BF16', [])).toBe(2);
    expect(tensorByteLength('F64', [0, 1e15])).toBe(0);
    expectSafetensorsError(() => tensorByteLength('F32', [-1]), 'BAD_ARGUMENT');
    expectSafetensorsError(() => tensorByteLength('F32', [1.5]), 'BAD_ARGUMENT');
    expectSafetensorsError(() => tensorByteLength('F32', [2 ** 30, 2 ** 30]), 'LIMIT_EXCEEDED');
    expectSafetensorsError(() => tensorByteLength('X' as SafeDtype, [1]), 'BAD_ARGUMENT');
  });
});

describe('writeSafetensors + SafetensorsFile round trip', () => {
  test('every dtype, with scalar, empty and multi-dimensional shapes', () => {
    const random = new SeededRandom(1);
    const shapes = [[], [0, 3], [5], [2, 3, 4]];
    const tensors = SAFE_DTYPES.flatMap((dtype) =>
      shapes.map((shape, i) => randomTensor(random, `${dtype.toLowerCase()}.${i}`, dtype, shape)),
    );
    const path = join(dir, 'all.safetensors');
    writeSafetensors(path, tensors, { format: 'pt', note: 'round trip' });

    using file = SafetensorsFile.open(path);
    expect(file.metadata).toEqual({ format: 'pt', note: 'round trip' });
    expect(file.entries.size).toBe(tensors.length);
    const raw = readFileSync(path);
    for (const tensor of tensors) {
      const entry = file.entry(tensor.name);
      expect({ dtype: entry.dtype, shape: entry.shape }).toEqual({ dtype: tensor.dtype, shape: tensor.shape });
      const expected = Buffer.from(tensor.data as Uint8Array);
      expect(entry.byteLength).toBe(expected.length);
      // byteOffset is absolute in the file.
      expect(raw.subarray(entry.byteOffset, entry.byteOffset + entry.byteLength).equals(expected)).toBe(true);
      const read = file.read(tensor.name);
      expect(read.equals(expected)).toBe(true);
      expect(read.byteOffset).toBe(0);
      expect(read.buffer.byteLength).toBe(expected.length);
      const target = new Uint8Array(entry.byteLength);
      file.readInto(tensor.name, target);
      expect(Buffer.from(target).equals(expected)).toBe(true);
    }
    expect(file.fileSize).toBe(raw.length);
  });

  test('header is compact JSON padded with spaces to 8 bytes, tensors in the reference order', () => {
    const random = new SeededRandom(2);
    // Order observed from the Python safetensors package for exactly these tensors.
    const tensors = [
      randomTensor(random, 'b', 'I8', [2]),
      randomTensor(random, 'a', 'F32', [3]),
      randomTensor(random, 'c', 'F64', [1]),
      randomTensor(random, 'z', 'BOOL', [1]),
      randomTensor(random, 'h', 'F16', [2]),
      randomTensor(random, 'u', 'U16', [1]),
    ];
    const path = join(dir, 'order.safetensors');
    writeSafetensors(path, tensors, { k: 'v' });
    const { length, text } = rawHeader(path);
    expect(length % 8).toBe(0);
    const json = text.trimEnd();
    expect(text.slice(json.length)).toMatch(/^ {0,7}$/);
    expect(json).toBe(
      '{"__metadata__":{"k":"v"},' +
        '"c":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},' +
        '"a":{"dtype":"F32","shape":[3],"data_offsets":[8,20]},' +
        '"h":{"dtype":"F16","shape":[2],"data_offsets":[20,24]},' +
        '"u":{"dtype":"U16","shape":[1],"data_offsets":[24,26]},' +
        '"b":{"dtype":"I8","shape":[2],"data_offsets":[26,28]},' +
        '"z":{"dtype":"BOOL","shape":[1],"data_offsets":[28,29]}}',
    );
    using file = SafetensorsFile.open(path);
    expect([...file.entries.keys()]).toEqual(['c', 'a', 'h', 'u', 'b', 'z']);
  });

  test("no tensors and no metadata gives the reference's 16-byte file", () => {
    const path = join(dir, 'empty.safetensors');
    writeSafetensors(path, []);
    expect(readFileSync(path).toString('latin1')).toBe('\x08\0\0\0\0\0\0\0{}      ');
    using file = SafetensorsFile.open(path);
    expect(file.entries.size).toBe(0);
    expect(file.metadata).toEqual({});
  });

  test('names sort by UTF-8 bytes and non-ASCII names and metadata survive', () => {
    const random = new SeededRandom(3);
    // In UTF-16 order "\uffff" < "\u{10000}", in UTF-8 (and code point) order it is the reverse.
    const names = ['\u{10000}', '\uffff', 'é', 'e', 'Z', 'line\nbreak', 'quote"'];
    const tensors = names.map((name) => randomTensor(random, name, 'U8', [1]));
    const path = join(dir, 'names.safetensors');
    writeSafetensors(path, tensors, { clé: 'välue\u0001' });
    using file = SafetensorsFile.open(path);
    expect([...file.entries.keys()]).toEqual(['Z', 'e', 'line\nbreak', 'quote"', 'é', '\uffff', '\u{10000}']);
    expect(file.metadata).toEqual({ clé: 'välue\u0001' });
    expect(rawHeader(path).text).toContain('"clé":"välue\\u0001"');
  });

  test('accepts a Map, typed arrays, and data callbacks called lazily in layout order', () => {
    const calls: string[] = [];
    const floats = new Float32Array([1.5, -2, 3.25]);
    const tensors = new Map([
      ['small', { dtype: 'U8' as const, shape: [2], data: () => (calls.push('small'), new Uint8Array([7, 8])) }],
      ['floats', { dtype: 'F32' as const, shape: [3], data: () => (calls.push('floats'), floats) }],
      ['ints', { dtype: 'I64' as const, shape: [1], data: new BigInt64Array([-5n]) }],
    ]);
    const path = join(dir, 'map.safetensors');
    writeSafetensors(path, tensors);
    expect(calls).toEqual(['floats', 'small']);
    using file = SafetensorsFile.open(path);
    const f = file.read('floats');
    expect(Array.from(new Float32Array(f.buffer, f.byteOffset, 3))).toEqual([1.5, -2, 3.25]);
    expect(file.read('ints').readBigInt64LE(0)).toBe(-5n);
    expect([...file.read('small')]).toEqual([7, 8]);
  });

  test('a subarray view writes only its own bytes', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const path = join(dir, 'view.safetensors');
    writeSafetensors(path, [{ name: 'v', dtype: 'U8', shape: [3], data: backing.subarray(2, 5) }]);
    using file = SafetensorsFile.open(path);
    expect([...file.read('v')]).toEqual([1, 2, 3]);
  });

  test('planSafetensors reports offsets and size without writing', () => {
    const layout = planSafetensors([
      { name: 'x', dtype: 'F32', shape: [2], data: () => new Uint8Array(8) },
      { name: 'y', dtype: 'I64', shape: [1], data: () => new Uint8Array(8) },
    ]);
    expect(layout.tensors.map((t) => [t.tensor.name, t.begin, t.end])).toEqual([
      ['y', 0, 8],
      ['x', 8, 16],
    ]);
    expect(layout.fileSize).toBe(layout.headerBytes.length + 16);
    expect(layout.headerBytes.length % 8).toBe(0);
  });
});

describe('writer input validation happens before touching the disk', () => {
  const cases: [string, TensorToWrite[], Record<string, string> | undefined, string][] = [
    [
      'duplicate names',
      [
        { name: 'a', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
        { name: 'a', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
      ],
      undefined,
      'two tensors have this name',
    ],
    ['reserved name', [{ name: '__metadata__', dtype: 'U8', shape: [1], data: new Uint8Array(1) }], undefined, 'reserved'],
    ['unknown dtype', [{ name: 'a', dtype: 'F4' as SafeDtype, shape: [1], data: new Uint8Array(1) }], undefined, 'unknown dtype'],
    ['negative dim', [{ name: 'a', dtype: 'U8', shape: [-1], data: new Uint8Array(1) }], undefined, 'non-negative integers'],
    [
      'data length mismatch',
      [{ name: 'a', dtype: 'F32', shape: [2], data: new Uint8Array(7) }],
      undefined,
      'data has 7 bytes but dtype and shape need 8',
    ],
    [
      'data not bytes',
      [{ name: 'a', dtype: 'U8', shape: [1], data: [1] as unknown as Uint8Array }],
      undefined,
      'ArrayBufferView',
    ],
    ['lone surrogate name', [{ name: 'a\ud800', dtype: 'U8', shape: [1], data: new Uint8Array(1) }], undefined, 'surrogate'],
    ['non-string metadata', [], { n: 1 as unknown as string }, 'must be a string'],
  ];
  test.each(cases)('%s', (_label, tensors, metadata, message) => {
    const path = join(dir, 'bad.safetensors');
    const error = expectSafetensorsError(() => writeSafetensors(path, tensors, metadata), 'BAD_ARGUMENT');
    expect(error.message).toContain(path);
    expect(error.message).toContain(message);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('atomic writes', () => {
  const previous = (): Buffer => readFileSync(join(dir, 'model.safetensors'));

  beforeEach(() => {
    writeSafetensors(join(dir, 'model.safetensors'), [{ name: 'old', dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) }]);
  });

  test('a data callback that throws mid-write leaves the previous file and no temporary file', () => {
    const before = previous();
    const cause = new Error('device lost');
    let secondCalled = false;
    const error = expectSafetensorsError(
      () =>
        writeSafetensors(join(dir, 'model.safetensors'), [
          { name: 'first', dtype: 'F32', shape: [1024], data: () => new Uint8Array(4096) },
          {
            name: 'second',
            dtype: 'U8',
            shape: [4],
            data: () => {
              secondCalled = true;
              throw cause;
            },
          },
        ]),
      'SOURCE_FAILED',
    );
    expect(secondCalled).toBe(true);
    expect(error.tensor).toBe('second');
    expect(error.cause).toBe(cause);
    expect(error.message).toContain('device lost');
    expect(previous().equals(before)).toBe(true);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
  });

  test('a data callback returning the wrong size aborts the same way', () => {
    const before = previous();
    const error = expectSafetensorsError(
      () =>
        writeSafetensors(join(dir, 'model.safetensors'), [
          { name: 'w', dtype: 'F32', shape: [4], data: () => new Uint8Array(15) },
        ]),
      'BAD_ARGUMENT',
    );
    expect(error.tensor).toBe('w');
    expect(previous().equals(before)).toBe(true);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
  });

  test('a successful write replaces the file', () => {
    writeSafetensors(join(dir, 'model.safetensors'), [{ name: 'new', dtype: 'U8', shape: [1], data: new Uint8Array([4]) }]);
    using file = SafetensorsFile.open(join(dir, 'model.safetensors'));
    expect([...file.entries.keys()]).toEqual(['new']);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
  });

  test('writing into a missing directory is an IO error', () => {
    const error = expectSafetensorsError(() => writeSafetensors(join(dir, 'nope', 'x.safetensors'), []), 'IO');
    expect(error.message).toContain('nope');
  });
});

describe('SafetensorsFile', () => {
  function smallFile(): string {
    const path = join(dir, 'small.safetensors');
    writeSafetensors(path, [
      { name: 'w', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
      { name: 'b', dtype: 'U8', shape: [1], data: new Uint8Array([5]) },
    ]);
    return path;
  }

  test('exposes fd and offsets so tensors can be read without the library', () => {
    const path = smallFile();
    using file = SafetensorsFile.open(path);
    expect(file.path).toBe(path);
    expect(file.dataOffset).toBe(8 + file.headerByteLength);
    const entry = file.entry('w');
    expect(entry.byteOffset).toBe(file.dataOffset);
    const target = Buffer.alloc(entry.byteLength);
    readSync(file.fd, target, 0, entry.byteLength, entry.byteOffset);
    expect(target.readFloatLE(4)).toBe(2);
  });

  test('unknown tensor, wrong target size and closed file are typed errors naming file and tensor', () => {
    const path = smallFile();
    const file = SafetensorsFile.open(path);
    const unknown = expectSafetensorsError(() => file.read('missing'), 'UNKNOWN_TENSOR');
    expect(unknown.message).toContain(path);
    expect(unknown.message).toContain('"missing"');
    expect(unknown.message).toContain('"w"');
    expect(unknown.tensor).toBe('missing');
    const wrongSize = expectSafetensorsError(() => file.readInto('w', new Uint8Array(7)), 'BAD_ARGUMENT');
    expect(wrongSize.message).toContain('exactly 8 bytes, found 7 bytes');
    file.close();
    file.close();
    expect(file.closed).toBe(true);
    expectSafetensorsError(() => file.read('w'), 'CLOSED');
    expectSafetensorsError(() => file.fd, 'CLOSED');
  });

  test('a file truncated after opening is reported on read', () => {
    const path = smallFile();
    using file = SafetensorsFile.open(path);
    const fd = openSync(path, 'r+');
    ftruncateSync(fd, file.dataOffset + 2);
    closeSync(fd);
    const error = expectSafetensorsError(() => file.read('w'), 'IO');
    expect(error.message).toContain('unexpected end of file');
  });

  test('missing files and directories are IO errors', () => {
    expectSafetensorsError(() => SafetensorsFile.open(join(dir, 'absent.safetensors')), 'IO');
    expect(expectSafetensorsError(() => SafetensorsFile.open(dir), 'IO').message).toContain('not a regular file');
  });

  test('validation errors carry file, tensor and reason', () => {
    const path = writeRaw(
      join(dir, 'mismatch.safetensors'),
      '{"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,12]}}',
      new Uint8Array(12),
    );
    const error = expectSafetensorsError(() => SafetensorsFile.open(path), 'BAD_ENTRY');
    expect(error).toBeInstanceOf(SafetensorsError);
    expect(error.file).toBe(path);
    expect(error.tensor).toBe('weight');
    expect(error.reason).toBe('shape [2, 3] of F32 needs 24 bytes, but data_offsets [0, 12] span 12 bytes');
    expect(error.message).toBe(`${path}: tensor "weight": ${error.reason}`);
  });

  // Files the reference implementation (safetensors 0.8) accepts.
  const accepted: [string, string, number][] = [
    ['null metadata', '{"__metadata__":null,"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1],
    ['metadata after tensors', '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"__metadata__":{"k":"v"}}', 1],
    ['unknown extra field', '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":[1.5,{"x":null}]}}', 1],
    ['surrounding whitespace', ' \n{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}\t\r ', 1],
    [
      'zero-size tensors sharing an offset',
      '{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[0,4],"data_offsets":[0,0]}}',
      0,
    ],
    ['scalar', '{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}', 8],
    ['unpadded header', '{}', 0],
    ['escaped name', '{"\\u00e9\\ud83d\\ude00":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1],
  ];
  test.each(accepted)('accepts %s', (_label, header, dataLength) => {
    const path = writeRaw(join(dir, 'ok.safetensors'), header, new Uint8Array(dataLength));
    using file = SafetensorsFile.open(path);
    for (const name of file.entries.keys()) expect(file.read(name).length).toBe(file.entry(name).byteLength);
  });

  test('metadata keys like __proto__ stay plain data', () => {
    const path = writeRaw(join(dir, 'proto.safetensors'), '{"__metadata__":{"__proto__":"x","constructor":"y"}}');
    using file = SafetensorsFile.open(path);
    expect(Object.keys(file.metadata)).toEqual(['__proto__', 'constructor']);
    expect(file.metadata['__proto__']).toBe('x');
    expect(Object.getPrototypeOf(file.metadata)).toBe(Object.prototype);
  });
});

describe('sharded checkpoints', () => {
  function tensorsOfSizes(sizes: number[]): TensorToWrite[] {
    const random = new SeededRandom(7);
    return sizes.map((size, i) => randomTensor(random, `layer.${i}.weight`, 'U8', [size]));
  }

  test('splits greedily like huggingface_hub and writes a transformers-style index', () => {
    // 6,6,2,6,2,2 with limit 10 -> [6], [6,2], [6,2,2] (the example of huggingface_hub's docstring).
    const tensors = tensorsOfSizes([6, 6, 2, 6, 2, 2]);
    const result = writeSharded(dir, tensors, { maxShardBytes: 10 });
    expect(result.files.map((f) => f.slice(dir.length + 1))).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
    ]);
    expect(result.totalSize).toBe(24);
    expect(result.indexPath).toBe(join(dir, INDEX_FILE_NAME));
    const index = JSON.parse(readFileSync(result.indexPath as string, 'utf8'));
    expect(index.metadata).toEqual({ total_parameters: 24, total_size: 24 });
    expect(index.weight_map).toEqual({
      'layer.0.weight': 'model-00001-of-00003.safetensors',
      'layer.1.weight': 'model-00002-of-00003.safetensors',
      'layer.2.weight': 'model-00002-of-00003.safetensors',
      'layer.3.weight': 'model-00003-of-00003.safetensors',
      'layer.4.weight': 'model-00003-of-00003.safetensors',
      'layer.5.weight': 'model-00003-of-00003.safetensors',
    });
    using shard = SafetensorsFile.open(result.files[1]);
    expect(shard.metadata).toEqual({ format: 'pt' });

    using checkpoint = ShardedSafetensors.open(dir);
    expect(checkpoint.indexPath).toBe(result.indexPath);
    expect(checkpoint.metadata).toEqual({ total_parameters: 24, total_size: 24 });
    expect(checkpoint.shardFiles).toHaveLength(3);
    for (const tensor of tensors) {
      expect(checkpoint.read(tensor.name).equals(Buffer.from(tensor.data as Uint8Array))).toBe(true);
      expect(checkpoint.entry(tensor.name).file).toBe(join(dir, index.weight_map[tensor.name]));
    }
    expect([...checkpoint.entries.keys()].sort()).toEqual(tensors.map((t) => t.name).sort());
  });

  test('a tensor larger than the limit gets its own shard, closed before the open one (as huggingface_hub)', () => {
    writeSharded(dir, tensorsOfSizes([3, 50, 3]), { maxShardBytes: 10 });
    const index = JSON.parse(readFileSync(join(dir, INDEX_FILE_NAME), 'utf8'));
    expect(index.weight_map).toEqual({
      'layer.0.weight': 'model-00002-of-00002.safetensors',
      'layer.1.weight': 'model-00001-of-00002.safetensors',
      'layer.2.weight': 'model-00002-of-00002.safetensors',
    });
  });

  test('one shard is written as model.safetensors without index, and stale files are removed', () => {
    writeSharded(dir, tensorsOfSizes([6, 6, 6]), { maxShardBytes: 10 });
    expect(readdirSync(dir).sort()).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      INDEX_FILE_NAME,
    ]);
    writeFileSync(join(dir, 'config.json'), '{}');
    const result = writeSharded(dir, tensorsOfSizes([6, 6, 6]), { metadata: { step: '3' } });
    expect(result.indexPath).toBeNull();
    expect(readdirSync(dir).sort()).toEqual(['config.json', SINGLE_FILE_NAME]);
    using checkpoint = ShardedSafetensors.open(dir);
    expect(checkpoint.indexPath).toBeNull();
    expect(checkpoint.names).toEqual(['layer.0.weight', 'layer.1.weight', 'layer.2.weight']);
    expect(checkpoint.shardFor('layer.0.weight').metadata).toEqual({ format: 'pt', step: '3' });
  });

  test('opens an index path or a single file directly', () => {
    const result = writeSharded(dir, tensorsOfSizes([6, 6]), { maxShardBytes: 8 });
    using viaIndex = ShardedSafetensors.open(result.indexPath as string);
    expect(viaIndex.names).toHaveLength(2);
    using viaFile = ShardedSafetensors.open(result.files[0]);
    expect(viaFile.names).toEqual(['layer.0.weight']);
  });

  test('shards are opened lazily; a missing tensor in a shard is reported when that shard is used', () => {
    const result = writeSharded(dir, tensorsOfSizes([6, 6]), { maxShardBytes: 8 });
    // Replace shard 2 by a file lacking the tensor the index maps to it.
    writeSafetensors(result.files[1], [{ name: 'other', dtype: 'U8', shape: [1], data: new Uint8Array(1) }]);
    using checkpoint = ShardedSafetensors.open(dir);
    expect(checkpoint.read('layer.0.weight')).toHaveLength(6);
    const error = expectSafetensorsError(() => checkpoint.read('layer.1.weight'), 'BAD_INDEX');
    expect(error.file).toBe(result.files[1]);
    expect(error.tensor).toBe('layer.1.weight');
    expect(() => checkpoint.entries).toThrow('does not contain it');
  });

  test('a missing shard is reported at open, naming shard and a tensor', () => {
    const result = writeSharded(dir, tensorsOfSizes([6, 6]), { maxShardBytes: 8 });
    unlinkSync(result.files[1]);
    const error = expectSafetensorsError(() => ShardedSafetensors.open(dir), 'MISSING_SHARD');
    expect(error.file).toBe(result.files[1]);
    expect(error.tensor).toBe('layer.1.weight');
  });

  const badIndexes: [string, string, string][] = [
    ['not JSON', '{"weight_map": ', 'not valid JSON'],
    ['not an object', '[]', 'must be a JSON object'],
    ['no weight_map', '{"metadata": {}}', 'no "weight_map" object'],
    ['non-string shard', '{"weight_map": {"a": 1}}', 'must be shard file names'],
    ['path traversal', '{"weight_map": {"a": "../x.safetensors"}}', 'without ".."'],
    ['absolute path', '{"weight_map": {"a": "/etc/x.safetensors"}}', 'relative path'],
    ['windows drive', '{"weight_map": {"a": "C:\\\\x.safetensors"}}', 'relative path'],
    ['wrong extension', '{"weight_map": {"a": "x.bin"}}', 'must end in .safetensors'],
    ['duplicate tensor', '{"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}}', 'duplicate key'],
    ['bad metadata', '{"metadata": 3, "weight_map": {}}', '"metadata" must be an object'],
  ];
  test.each(badIndexes)('rejects an index with %s', (_label, text, message) => {
    writeFileSync(join(dir, INDEX_FILE_NAME), text);
    const error = expectSafetensorsError(() => ShardedSafetensors.open(dir), 'BAD_INDEX');
    expect(error.file).toBe(join(dir, INDEX_FILE_NAME));
    expect(error.message).toContain(message);
  });

  test('a directory without checkpoint files, or an unknown tensor, is a clear error', () => {
    mkdirSync(join(dir, 'empty'));
    expect(expectSafetensorsError(() => ShardedSafetensors.open(join(dir, 'empty')), 'IO').message).toContain(INDEX_FILE_NAME);
    writeSharded(dir, tensorsOfSizes([1]));
    using checkpoint = ShardedSafetensors.open(dir);
    expectSafetensorsError(() => checkpoint.read('nope'), 'UNKNOWN_TENSOR');
    checkpoint.close();
    expectSafetensorsError(() => checkpoint.read('layer.0.weight'), 'CLOSED');
  });

  test('formatIndexJson escapes like Python json.dumps(ensure_ascii) and sorts by code point', () => {
    const text = formatIndexJson({ total_size: 3, total_parameters: 2 }, [
      ['b\u{10000}', 'model-00002-of-00002.safetensors'],
      ['b\uffff', 'model-00001-of-00002.safetensors'],
      ['a\u007f"é', 'model-00001-of-00002.safetensors'],
    ]);
    expect(text).toBe(
      '{\n  "metadata": {\n    "total_parameters": 2,\n    "total_size": 3\n  },\n  "weight_map": {\n' +
        '    "a\\u007f\\"\\u00e9": "model-00001-of-00002.safetensors",\n' +
        '    "b\\uffff": "model-00001-of-00002.safetensors",\n' +
        '    "b\\ud800\\udc00": "model-00002-of-00002.safetensors"\n  }\n}\n',
    );
  });

  test('rejects a non-positive shard limit and duplicate names across shards', () => {
    expectSafetensorsError(() => writeSharded(dir, [], { maxShardBytes: 0 }), 'BAD_ARGUMENT');
    const tensors = tensorsOfSizes([6, 6]);
    expectSafetensorsError(() => writeSharded(dir, [...tensors, { ...tensors[0] }], { maxShardBytes: 8 }), 'BAD_ARGUMENT');
    expect(existsSync(join(dir, INDEX_FILE_NAME))).toBe(false);
  });
});

const pythonLookup = findPython();
const describePython = 'python' in pythonLookup ? describe : describe.skip;
if (!('python' in pythonLookup)) console.warn(`skipping safetensors Python interop tests: ${pythonLookup.reason}`);

describePython('interop with the Python safetensors package', () => {
  const python = 'python' in pythonLookup ? pythonLookup.python : '';
  const TORCH_DTYPES = `{
    'BOOL': torch.bool, 'U8': torch.uint8, 'I8': torch.int8, 'F8_E5M2': torch.float8_e5m2,
    'F8_E4M3': torch.float8_e4m3fn, 'F8_E8M0': torch.float8_e8m0fnu, 'F8_E4M3FNUZ': torch.float8_e4m3fnuz,
    'F8_E5M2FNUZ': torch.float8_e5m2fnuz, 'I16': torch.int16, 'U16': torch.uint16, 'F16': torch.float16,
    'BF16': torch.bfloat16, 'I32': torch.int32, 'U32': torch.uint32, 'F32': torch.float32,
    'C64': torch.complex64, 'F64': torch.float64, 'I64': torch.int64, 'U64': torch.uint64}`;
  const PY_PRELUDE = `
import json, sys, torch
from safetensors import safe_open
from safetensors.torch import save_file
DTYPES = ${TORCH_DTYPES}
NAMES = {v: k for k, v in DTYPES.items()}
def raw(t):
    t = t.contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes().hex() if t.numel() else ''
def make(spec):
    dtype, shape, data = DTYPES[spec['dtype']], spec['shape'], bytes.fromhex(spec['hex'])
    if not data:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(shape).clone()
def dump(path):
    out = {}
    with safe_open(path, framework='pt') as f:
        meta = f.metadata()
        for k in f.keys():
            t = f.get_tensor(k)
            out[k] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'hex': raw(t)}
    return {'metadata': meta, 'tensors': out}
`;

  function spec(tensors: TensorToWrite[]): Record<string, { dtype: string; shape: number[]; hex: string }> {
    return Object.fromEntries(
      tensors.map((t) => [
        t.name,
        { dtype: t.dtype, shape: [...t.shape], hex: Buffer.from(t.data as Uint8Array).toString('hex') },
      ]),
    );
  }

  function allDtypeTensors(seed: number): TensorToWrite[] {
    const random = new SeededRandom(seed);
    const shapes = [[], [0, 2], [3], [2, 3]];
    return SAFE_DTYPES.flatMap((dtype) =>
      shapes.map((shape, i) => randomTensor(random, `${dtype}/${i}${i === 3 ? '.é' : ''}`, dtype, shape)),
    );
  }

  test("item sizes are torch's, and each torch dtype is stored under the name safetensors writes for it", () => {
    const script = `${PY_PRELUDE}
from safetensors.torch import save
def written_dtype(name):
    data = save({'t': torch.zeros(1, dtype=getattr(torch, name))})
    return json.loads(data[8:8 + int.from_bytes(data[:8], 'little')])['t']['dtype']
sizes = {name: dtype.itemsize for name, dtype in DTYPES.items()}
print(json.dumps({'sizes': sizes, 'names': {name: written_dtype(name) for name in json.loads(sys.argv[1])}}))
`;
    const expected = JSON.parse(runPython(python, script, [JSON.stringify(DTYPES)])) as {
      sizes: Record<string, number>;
      names: Record<string, string>;
    };
    expect(Object.fromEntries(SAFE_DTYPES.map((d) => [d, itemSize(d)]))).toEqual(expected.sizes);
    expect(Object.fromEntries(DTYPES.map((d) => [d, safeDtypeOf(d)]))).toEqual(expected.names);
  });

  test('files we write load in Python with identical values, and Python writes identical bytes', () => {
    const tensors = allDtypeTensors(11);
    const ours = join(dir, 'ours.safetensors');
    const theirs = join(dir, 'theirs.safetensors');
    writeSafetensors(ours, tensors, { format: 'pt' });
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec(tensors)));
    const script = `${PY_PRELUDE}
spec = json.load(open(sys.argv[1] + '/spec.json'))
loaded = dump(sys.argv[1] + '/ours.safetensors')
assert loaded['metadata'] == {'format': 'pt'}, loaded['metadata']
assert loaded['tensors'] == spec, 'values differ'
save_file({k: make(v) for k, v in spec.items()}, sys.argv[1] + '/theirs.safetensors', metadata={'format': 'pt'})
print('ok')
`;
    expect(runPython(python, script, [dir]).trim()).toBe('ok');
    expect(readFileSync(theirs).equals(readFileSync(ours))).toBe(true);
  });

  test('files Python writes load in ours with identical values', () => {
    const script = `${PY_PRELUDE}
torch.manual_seed(0)
tensors = {
  'embed.weight': torch.randn(4, 3, dtype=torch.bfloat16),
  'norm': torch.randn(5).half(),
  'ids': torch.arange(-3, 3, dtype=torch.int64),
  'mask': torch.tensor([True, False, True]),
  'scalar': torch.tensor(2.5, dtype=torch.float64),
  'empty': torch.zeros(0, 4),
  'fp8': torch.randn(6).to(torch.float8_e4m3fn),
  'u32': torch.tensor([1, 2**32 - 1], dtype=torch.uint32),
}
save_file(tensors, sys.argv[1] + '/py.safetensors', metadata={'format': 'pt', 'a': 'b', 'z': 'é'})
print(json.dumps(dump(sys.argv[1] + '/py.safetensors')))
`;
    const expected = JSON.parse(runPython(python, script, [dir])) as {
      metadata: Record<string, string>;
      tensors: Record<string, { dtype: string; shape: number[]; hex: string }>;
    };
    using file = SafetensorsFile.open(join(dir, 'py.safetensors'));
    expect(file.metadata).toEqual(expected.metadata);
    const actual = Object.fromEntries(
      [...file.entries.values()].map((e) => [e.name, { dtype: e.dtype, shape: e.shape, hex: file.read(e.name).toString('hex') }]),
    );
    expect(actual).toEqual(expected.tensors);
  });

  test('sharded checkpoints interoperate with huggingface_hub', () => {
    const tensors = allDtypeTensors(12).filter((t) => tensorByteLength(t.dtype, t.shape) > 0);
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec(tensors)));
    const ourDir = join(dir, 'ours');
    const result = writeSharded(ourDir, tensors, { maxShardBytes: 40 });
    expect(result.files.length).toBeGreaterThan(3);
    const script = `${PY_PRELUDE}
import os
from huggingface_hub import save_torch_state_dict
from huggingface_hub.serialization import split_torch_state_dict_into_shards
base = sys.argv[1]
spec = json.load(open(base + '/spec.json'))
# Our index must be what transformers would write for the same split.
state = {k: make(v) for k, v in spec.items()}
split = split_torch_state_dict_into_shards(state, max_shard_size=40)
index = {'metadata': {'total_parameters': sum(t.numel() for t in state.values()), **split.metadata}, 'weight_map': split.tensor_to_filename}
assert open(base + '/ours/model.safetensors.index.json').read() == json.dumps(index, indent=2, sort_keys=True) + '\\n', 'index differs'
found = {}
for shard in sorted(set(index['weight_map'].values())):
    part = dump(base + '/ours/' + shard)
    assert part['metadata'] == {'format': 'pt'}
    found.update(part['tensors'])
assert found == spec, 'values differ'
os.makedirs(base + '/hub')
save_torch_state_dict(state, base + '/hub', max_shard_size=40)
print(len(os.listdir(base + '/hub')))
`;
    const hubFiles = Number(runPython(python, script, [dir]).trim());
    expect(hubFiles).toBe(result.files.length + 1);
    using checkpoint = ShardedSafetensors.open(join(dir, 'hub'));
    expect(checkpoint.shardFiles.map((f) => join(dir, 'hub', f))).toEqual(
      result.files.map((f) => f.replace(ourDir, join(dir, 'hub'))),
    );
    for (const tensor of tensors) {
      expect(checkpoint.read(tensor.name).equals(Buffer.from(tensor.data as Uint8Array))).toBe(true);
      expect(checkpoint.entry(tensor.name).dtype).toBe(tensor.dtype);
    }
  });
});
