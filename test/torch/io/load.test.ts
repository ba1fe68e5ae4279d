import { closeSync, openSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import * as torch from '../../../src/torch';
import { loadTensor, loadTensors } from '../../../src/torch/io/load';
import { native } from '../../../src/torch/native';
import { wrap } from '../../../src/torch/tensor';
import {
  SafetensorsFile,
  ShardedSafetensors,
  itemSize,
  writeSafetensors,
  writeSharded,
  type SafeDtype,
  type TensorToWrite,
} from '../../../src/torch/io/safetensors';
import { SeededRandom, expectSafetensorsError, findPython, runPython, tempDirForEachTest } from './safetensors-helpers';

let dir: string;
tempDirForEachTest('load-test', (d) => (dir = d));

/** A tensor to write with random bytes (bool: 0/1), so that a load can be checked byte for byte. */
function randomTensor(random: SeededRandom, name: string, dtype: SafeDtype, shape: number[]): TensorToWrite {
  const count = shape.reduce((a, b) => a * b, 1);
  const data = random.bytes(count * itemSize(dtype));
  if (dtype === 'BOOL') data.forEach((v, i) => (data[i] = v & 1));
  // Keep floats finite and away from NaN payloads: clear the top exponent bit of every element.
  if (dtype === 'F32' || dtype === 'F64' || dtype === 'F16' || dtype === 'BF16') {
    for (let i = itemSize(dtype) - 1; i < data.length; i += itemSize(dtype)) data[i] &= 0xbf;
  }
  return { name, dtype, shape, data };
}

function bytesOf(t: TensorToWrite): Uint8Array {
  const d = t.data as ArrayBufferView;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

const LOADABLE: [SafeDtype, torch.DType][] = [
  ['F64', 'float64'],
  ['F32', 'float32'],
  ['F16', 'float16'],
  ['BF16', 'bfloat16'],
  ['I64', 'int64'],
  ['I32', 'int32'],
  ['I16', 'int16'],
  ['I8', 'int8'],
  ['U8', 'uint8'],
  ['BOOL', 'bool'],
];

describe('loadTensor', () => {
  it('reads every loadable dtype byte for byte, with its shape, on the CPU', () => {
    const random = new SeededRandom(1);
    const tensors = LOADABLE.map(([dtype], i) => randomTensor(random, `t.${dtype}`, dtype, [3, i + 1, 2]));
    const path = join(dir, 'all.safetensors');
    writeSafetensors(path, tensors);
    using file = SafetensorsFile.open(path);
    torch.scope(() => {
      for (const [i, [dtype, torchDtype]] of LOADABLE.entries()) {
        const t = loadTensor(file, `t.${dtype}`);
        expect(t.dtype).toBe(torchDtype);
        expect(t.shape).toEqual([3, i + 1, 2]);
        expect(t.device).toBe('cpu');
        expect(t.requiresGrad).toBe(false);
        expect(Buffer.from(torch.toBytes(t)).equals(Buffer.from(bytesOf(tensors[i])))).toBe(true);
      }
    });
  });

  it('reads scalars and empty tensors', () => {
    const path = join(dir, 'edge.safetensors');
    writeSafetensors(path, [
      { name: 'scalar', dtype: 'F64', shape: [], data: new Float64Array([2.5]) },
      { name: 'empty', dtype: 'F32', shape: [4, 0, 3], data: new Float32Array(0) },
    ]);
    using file = SafetensorsFile.open(path);
    torch.scope(() => {
      const scalar = loadTensor(file, 'scalar');
      expect(scalar.shape).toEqual([]);
      expect(scalar.item()).toBe(2.5);
      const empty = loadTensor(file, 'empty', { dtype: 'bfloat16' });
      expect(empty.shape).toEqual([4, 0, 3]);
      expect(empty.dtype).toBe('bfloat16');
    });
  });

  it('converts to the requested dtype, as Tensor.to does', () => {
    const values = Float32Array.from({ length: 24 }, (_, i) => (i - 11.5) * 0.37);
    const path = join(dir, 'f32.safetensors');
    writeSafetensors(path, [
      { name: 'w', dtype: 'F32', shape: [4, 6], data: values },
      { name: 'ids', dtype: 'I64', shape: [3], data: new BigInt64Array([7n, -2n, 40n]) },
    ]);
    using file = SafetensorsFile.open(path);
    torch.scope(() => {
      const reference = torch.tensor(values, { shape: [4, 6] });
      for (const dtype of ['bfloat16', 'float16', 'float64', 'int32'] as const) {
        const t = loadTensor(file, 'w', { dtype });
        expect(t.dtype).toBe(dtype);
        expect(t.shape).toEqual([4, 6]);
        expect(t.tolist()).toEqual(reference.to(dtype).tolist());
      }
      expect(loadTensor(file, 'w', { dtype: 'half' as torch.DType }).dtype).toBe('float16'); // PyTorch's alias
      expect(loadTensor(file, 'ids', { dtype: 'float32' }).tolist()).toEqual([7, -2, 40]);
    });
  });

  it('frees nothing it returns and leaks nothing when a conversion fails', () => {
    const path = join(dir, 'one.safetensors');
    writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }]);
    using file = SafetensorsFile.open(path);
    const before = torch.memory().liveTensors;
    const kept = torch.scope(() => loadTensor(file, 'w', { dtype: 'float64' }));
    expect(torch.memory().liveTensors).toBe(before + 1);
    expect(kept.tolist()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    kept.dispose();
    expect(torch.memory().liveTensors).toBe(before);
    // A device that does not exist: the tensor read before the move is freed.
    expect(() => loadTensor(file, 'w', { device: 'cuda:63' })).toThrow();
    expect(() => loadTensor(file, 'w', { device: 'nowhere' })).toThrow(/nowhere/);
    expect(torch.memory().liveTensors).toBe(before);
  });

  const cudaIt = torch.cuda.isAvailable() ? it : it.skip;
  if (!torch.cuda.isAvailable()) console.log(`skipping the CUDA placement test: ${torch.cuda.unavailableReason()}`);
  cudaIt('places tensors on a CUDA device, converting on the side of the smaller representation', () => {
    const values = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
    const path = join(dir, 'gpu.safetensors');
    writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [8, 8], data: values }]);
    using file = SafetensorsFile.open(path);
    torch.scope(() => {
      for (const dtype of ['float32', 'bfloat16', 'float64'] as const) {
        const t = loadTensor(file, 'w', { device: 'cuda', dtype });
        expect(t.device).toMatch(/^cuda/);
        expect(t.dtype).toBe(dtype);
        expect(t.cpu().tolist()).toEqual(
          torch
            .tensor(values, { shape: [8, 8] })
            .to(dtype)
            .tolist(),
        );
      }
    });
  });

  it('reads large tensors in chunks, with one or several reader threads', () => {
    // 40 MiB: above the parallel threshold (32 MiB) and three 16 MiB chunks, the last one partial.
    const count = 10 * 1024 * 1024;
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = (i % 9973) - 4986.5;
    const path = join(dir, 'large.safetensors');
    writeSafetensors(path, [
      { name: 'head', dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) }, // an unaligned neighbour
      { name: 'big', dtype: 'F32', shape: [count / 1024, 1024], data },
    ]);
    using file = SafetensorsFile.open(path);
    const expected = Buffer.from(data.buffer);
    for (const readerThreads of [1, 2, 3, 8]) {
      torch.scope(() => {
        const t = loadTensor(file, 'big', { readerThreads, map: false });
        expect(t.shape).toEqual([count / 1024, 1024]);
        expect(Buffer.from(torch.toBytes(t)).equals(expected)).toBe(true);
      });
    }
    // Cut inside the second chunk: every reader fails at or after the cut, and the first failure is reported.
    const cut = file.entry('big').byteOffset + 20 * 2 ** 20 + 12;
    truncateSync(path, cut);
    for (const readerThreads of [1, 3]) {
      const error = expectSafetensorsError(() => loadTensor(file, 'big', { readerThreads, map: false }), 'IO');
      expect(error.reason).toMatch(new RegExp(`^unexpected end of file at offset ${cut} \\(needed \\d+ more bytes`));
    }
  });

  it('reads from shards of a checkpoint', () => {
    const random = new SeededRandom(7);
    const tensors = Array.from({ length: 6 }, (_, i) => randomTensor(random, `layer.${i}.weight`, 'BF16', [16, 8 + i]));
    writeSharded(dir, tensors, { maxShardBytes: 700 });
    using checkpoint = ShardedSafetensors.open(dir);
    expect(checkpoint.shardFiles.length).toBeGreaterThan(1);
    torch.scope(() => {
      for (const t of tensors) {
        const loaded = loadTensor(checkpoint, t.name);
        expect(loaded.dtype).toBe('bfloat16');
        expect(Buffer.from(torch.toBytes(loaded)).equals(Buffer.from(bytesOf(t)))).toBe(true);
      }
    });
  });

  describe('errors name the file and the tensor', () => {
    function oneTensorFile(name = 'one.safetensors'): string {
      const path = join(dir, name);
      writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [1024], data: new Float32Array(1024) }]);
      return path;
    }

    it('for an unknown tensor', () => {
      using file = SafetensorsFile.open(oneTensorFile());
      const error = expectSafetensorsError(() => loadTensor(file, 'v'), 'UNKNOWN_TENSOR');
      expect(error.file).toBe(file.path);
      expect(error.tensor).toBe('v');
    });

    it('for a closed file', () => {
      const file = SafetensorsFile.open(oneTensorFile());
      file.close();
      expectSafetensorsError(() => loadTensor(file, 'w'), 'CLOSED');
    });

    it('for a file truncated after it was opened', () => {
      const path = oneTensorFile();
      using file = SafetensorsFile.open(path);
      truncateSync(path, file.dataOffset + 1000);
      const before = torch.memory().liveTensors;
      const error = expectSafetensorsError(() => loadTensor(file, 'w', { map: false }), 'IO');
      expect(error.message).toContain(path);
      expect(error.message).toContain('"w"');
      expect(error.reason).toBe(
        `unexpected end of file at offset ${file.dataOffset + 1000} (needed 3096 more bytes; was the file truncated after it was opened?)`,
      );
      expect(torch.memory().liveTensors).toBe(before);
    });

    it('for dtypes the tensor library lacks', () => {
      const path = join(dir, 'exotic.safetensors');
      writeSafetensors(path, [
        { name: 'scale', dtype: 'F8_E4M3', shape: [4], data: new Uint8Array(4) },
        { name: 'ids', dtype: 'U32', shape: [2], data: new Uint32Array(2) },
      ]);
      using file = SafetensorsFile.open(path);
      const error = expectSafetensorsError(() => loadTensor(file, 'scale'), 'LIMIT_EXCEEDED');
      expect(error.reason).toMatch(
        /^stored as F8_E4M3, which the tensor library has no dtype for \(it loads F32, F64, BF16, F16, .*BOOL\)$/,
      );
      expectSafetensorsError(() => loadTensor(file, 'ids'), 'LIMIT_EXCEEDED');
    });

    it('for bad options', () => {
      using file = SafetensorsFile.open(oneTensorFile());
      const dtype = expectSafetensorsError(() => loadTensor(file, 'w', { dtype: 'float8' as torch.DType }), 'BAD_ARGUMENT');
      expect(dtype.reason).toMatch(/unknown dtype "float8" requested/);
      expectSafetensorsError(() => loadTensor(file, 'w', { readerThreads: 0 }), 'BAD_ARGUMENT');
      expectSafetensorsError(() => loadTensor(file, 'w', { readerThreads: 1.5 }), 'BAD_ARGUMENT');
    });
  });
});

describe('loadTensors', () => {
  function checkpoint(): TensorToWrite[] {
    const random = new SeededRandom(3);
    return [
      randomTensor(random, 'embed', 'F32', [10, 4]),
      randomTensor(random, 'norm', 'F32', [4]),
      randomTensor(random, 'position_ids', 'I64', [5]),
    ];
  }

  it('loads every tensor by default, in file order, from a file or a sharded checkpoint', () => {
    const tensors = checkpoint();
    writeSharded(dir, tensors, { maxShardBytes: 100 });
    writeSafetensors(join(dir, 'single.safetensors'), tensors);
    using sharded = ShardedSafetensors.open(dir);
    using single = SafetensorsFile.open(join(dir, 'single.safetensors'));
    for (const source of [sharded, single]) {
      torch.scope(() => {
        const loaded = loadTensors(source);
        expect([...loaded.keys()].sort()).toEqual(['embed', 'norm', 'position_ids']);
        for (const t of tensors) {
          expect(Buffer.from(torch.toBytes(loaded.get(t.name)!)).equals(Buffer.from(bytesOf(t)))).toBe(true);
        }
      });
    }
  });

  it('loads the named tensors, with one dtype or a dtype chosen per tensor', () => {
    const path = join(dir, 'model.safetensors');
    writeSafetensors(path, checkpoint());
    using file = SafetensorsFile.open(path);
    torch.scope(() => {
      const some = loadTensors(file, ['norm', 'embed', 'norm'], { dtype: 'float64' });
      expect([...some.keys()]).toEqual(['norm', 'embed']);
      expect([...some.values()].map((t) => t.dtype)).toEqual(['float64', 'float64']);
      const floatsOnly = loadTensors(file, undefined, { dtype: (e) => (e.dtype === 'F32' ? 'bfloat16' : undefined) });
      expect(floatsOnly.get('embed')!.dtype).toBe('bfloat16');
      expect(floatsOnly.get('position_ids')!.dtype).toBe('int64');
    });
  });

  it('frees what it loaded when a later tensor fails', () => {
    const path = join(dir, 'model.safetensors');
    writeSafetensors(path, checkpoint());
    using file = SafetensorsFile.open(path);
    const before = torch.memory().liveTensors;
    expectSafetensorsError(() => loadTensors(file, ['embed', 'norm', 'missing']), 'UNKNOWN_TENSOR');
    expect(torch.memory().liveTensors).toBe(before);
  });
});

describe('native readTensor', () => {
  it('reads from a path or a descriptor, at any offset', () => {
    const path = join(dir, 'raw.bin');
    const values = Int16Array.from({ length: 12 }, (_, i) => i * 1000 - 5000);
    writeFileSync(path, Buffer.concat([Buffer.from('xyz'), Buffer.from(values.buffer)]));
    const fd = openSync(path, 'r');
    try {
      torch.scope(() => {
        const fromPath = wrap(native.readTensor(path, 3, 24, 'int16', [3, 4]));
        expect(fromPath.tolist().flat()).toEqual([...values]);
        const fromDescriptor = wrap(native.readTensor(fd, 3 + 8, 4, 'int16', [2], path));
        expect(fromDescriptor.tolist()).toEqual([values[4], values[5]]);
      });
    } finally {
      closeSync(fd);
    }
  });

  it('reports missing files, short files, size mismatches and bad descriptors', () => {
    const path = join(dir, 'short.bin');
    writeFileSync(path, Buffer.alloc(10));
    expect(() => native.readTensor(join(dir, 'nope.bin'), 0, 4, 'float32', [1])).toThrow(
      /nope\.bin: cannot open: No such file or directory/,
    );
    expect(() => native.readTensor(path, 8, 4, 'float32', [1])).toThrow(
      /short\.bin: unexpected end of file at offset 10 \(needed 2 more bytes/,
    );
    expect(() => native.readTensor(path, 0, 8, 'float32', [3])).toThrow(
      /8 bytes at offset 0 cannot hold shape \[3\] of float32, which needs 12/,
    );
    expect(() => native.readTensor(path, -1, 4, 'float32', [1])).toThrow(/negative byte offset -1/);
    expect(() => native.readTensor(path, 0, 4, 'float32', [1], undefined, 0)).toThrow(/threads must be between 1 and 64/);
    const fd = openSync(path, 'r');
    closeSync(fd);
    expect(() => native.readTensor(fd, 0, 4, 'float32', [1], 'closed.bin')).toThrow(
      /closed\.bin: read failed at offset 0: Bad file descriptor/,
    );
    expect(() => native.readTensor({} as unknown as string, 0, 4, 'float32', [1])).toThrow(
      /expected a file path or an open file descriptor/,
    );
  });

  it('evicts a file from the page cache, after which it still reads the same bytes', () => {
    const path = join(dir, 'evict.safetensors');
    const data = Float32Array.from({ length: 4096 }, (_, i) => i / 7);
    writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [4096], data }]);
    native.evictFromPageCache(path);
    using file = SafetensorsFile.open(path);
    native.evictFromPageCache(file.fd);
    torch.scope(() => expect(Buffer.from(torch.toBytes(loadTensor(file, 'w'))).equals(Buffer.from(data.buffer))).toBe(true));
    expect(() => native.evictFromPageCache(join(dir, 'nope'))).toThrow(/nope: cannot open/);
  });
});

describe('files written by the Python safetensors package', () => {
  const python = findPython();
  if ('reason' in python) {
    it.skip(`(skipped: ${python.reason})`, () => {});
    return;
  }

  it('load with the values PyTorch saved', () => {
    const path = join(dir, 'python.safetensors');
    const script = `
import json, sys, torch
from safetensors.torch import save_file
g = torch.Generator().manual_seed(0)
tensors = {
    "bf16": torch.randn(5, 3, generator=g).to(torch.bfloat16),
    "f16": torch.randn(7, generator=g).to(torch.float16),
    "f32": torch.randn(2, 3, 4, generator=g),
    "i64": torch.arange(-4, 8).reshape(3, 4) * 1000003,
    "mask": torch.rand(9, generator=g) > 0.5,
    "u8": torch.arange(250, 256, dtype=torch.uint8),
}
save_file(tensors, sys.argv[1], metadata={"format": "pt"})
print(json.dumps({k: {"shape": list(v.shape), "values": v.float().flatten().tolist() if v.is_floating_point() else v.flatten().tolist()} for k, v in tensors.items()}))
`;
    const expected = JSON.parse(runPython(python.python, script, [path])) as Record<
      string,
      { shape: number[]; values: (number | boolean)[] }
    >;
    using file = SafetensorsFile.open(path);
    torch.scope(() => {
      const loaded = loadTensors(file);
      expect([...loaded.keys()].sort()).toEqual(Object.keys(expected).sort());
      for (const [name, { shape, values }] of Object.entries(expected)) {
        const t = loaded.get(name)!;
        expect(t.shape).toEqual(shape);
        const flat = (t.dtype === 'bfloat16' || t.dtype === 'float16' ? t.float() : t).reshape([-1]).tolist() as (
          number | boolean
        )[];
        expect(flat).toEqual(name === 'mask' ? values.map(Boolean) : values);
      }
      expect(loaded.get('i64')!.dtype).toBe('int64');
      expect(loaded.get('mask')!.dtype).toBe('bool');
    });
  });
});
