// Memory-mapped safetensors loading (loadTensor's `map` option, native/mapped_file.cc): tensors over a
// copy-on-write mapping of the file, which outlive the file and survive it shrinking underneath.
import { closeSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import * as torch from '../../../src/torch';
import { loadTensor, loadTensors } from '../../../src/torch/io/load';
import { native } from '../../../src/torch/native';
import { wrap } from '../../../src/torch/tensor';
import { SafetensorsFile, writeSafetensors } from '../../../src/torch/io/safetensors';
import { expectSafetensorsError, tempDirForEachTest } from './safetensors-helpers';

let dir: string;
tempDirForEachTest('mapped-load-test', (d) => (dir = d));

const PAGE = 4096;

/** A file with one float32 tensor `w` of `count` elements (value i at index i) after a small `head` tensor. */
function writeFile(count: number): string {
  const path = join(dir, 'model.safetensors');
  writeSafetensors(path, [
    { name: 'head', dtype: 'F32', shape: [2], data: Float32Array.of(-1, -2) },
    { name: 'w', dtype: 'F32', shape: [count], data: Float32Array.from({ length: count }, (_, i) => i) },
  ]);
  return path;
}

/** Overwrites float32 element `index` of tensor `w` in the file in place (same size). */
function overwriteInPlace(path: string, file: SafetensorsFile, index: number, value: number): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.from(Float32Array.of(value).buffer), 0, 4, file.entry('w').byteOffset + index * 4);
  } finally {
    closeSync(fd);
  }
}

describe('mapped loading', () => {
  it('gives the stored values, as a view of the file (a change in place shows) rather than a copy', () => {
    const path = writeFile(3 * PAGE);
    using file = SafetensorsFile.open(path);
    torch.scope(() => {
      const mapped = loadTensor(file, 'w', { map: true });
      const read = loadTensor(file, 'w', { map: false });
      expect(mapped.dtype).toBe('float32');
      expect(mapped.shape).toEqual([3 * PAGE]);
      expect(torch.equal(mapped, read)).toBe(true);
      overwriteInPlace(path, file, 5, 1234.5);
      expect(mapped.select(0, 5).item()).toBe(1234.5);
      expect(read.select(0, 5).item()).toBe(5);
    });
  });

  it('is copy-on-write: writing to the tensor leaves the file as it was', () => {
    const path = writeFile(2 * PAGE);
    const before = readFileSync(path);
    using file = SafetensorsFile.open(path);
    torch.scope(() => {
      const mapped = loadTensor(file, 'w', { map: true });
      mapped.mul_(2);
      expect(mapped.select(0, 7).item()).toBe(14);
      expect(loadTensor(file, 'w', { map: false }).select(0, 7).item()).toBe(7);
    });
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('keeps the mapping alive after the file is closed, for as long as a tensor uses it', () => {
    const path = writeFile(PAGE);
    const kept = torch.scope(() => {
      using file = SafetensorsFile.open(path);
      return torch.keep(loadTensor(file, 'w', { map: true }));
    });
    try {
      expect(kept.sum().item()).toBe(((PAGE - 1) * PAGE) / 2);
    } finally {
      kept.dispose();
    }
  });

  it('survives the file shrinking after the load: the lost pages read as zeros, the rest stays', () => {
    const count = 8 * PAGE;
    const path = writeFile(count);
    using file = SafetensorsFile.open(path);
    const mapped = loadTensor(file, 'w', { map: true });
    try {
      const faults = native.mappedFileFaults();
      // Cut the file two pages into the tensor's data: what follows is gone from the file.
      truncateSync(path, file.entry('w').byteOffset + 2 * PAGE);
      const values = mapped.tolist() as number[];
      expect(native.mappedFileFaults()).toBeGreaterThan(faults);
      const kept = (2 * PAGE) / 4;
      expect(values.slice(0, kept)).toEqual(Array.from({ length: kept }, (_, i) => i));
      expect(values.slice(kept).every((v) => v === 0)).toBe(true);
      expect(values).toHaveLength(count);
      // The process goes on and other files still load.
      expect(loadTensor(file, 'head', { map: false }).tolist()).toEqual([-1, -2]);
    } finally {
      mapped.dispose();
    }
  });

  it('refuses a file whose size changed since it was opened, with an IO error and nothing leaked', () => {
    const path = writeFile(2 * PAGE);
    using file = SafetensorsFile.open(path);
    truncateSync(path, file.dataOffset + 100);
    const before = torch.memory().liveTensors;
    for (const map of [true, 'auto'] as const) {
      const error = expectSafetensorsError(() => loadTensor(file, 'w', { map }), 'IO');
      expect(error.reason).toMatch(
        /^the file is \d+ bytes, not the \d+ it had when it was opened \(it changed underneath; open it again\)/,
      );
    }
    expect(torch.memory().liveTensors).toBe(before);
  });

  it("maps a warm file under 'auto' and reads an evicted (cold) one", () => {
    const path = writeFile(64 * PAGE);
    using file = SafetensorsFile.open(path);
    const { byteOffset, byteLength } = file.entry('w');
    torch.scope(() => {
      const warm = loadTensor(file, 'w');
      native.evictFromPageCache(path);
      const mapping = native.mapFile(file.fd, path, file.fileSize);
      try {
        const resident = native.mappedResidentFraction(mapping, byteOffset, byteLength);
        const cold = loadTensor(file, 'w');
        overwriteInPlace(path, file, 3, -7);
        expect(warm.select(0, 3).item()).toBe(-7);
        // Eviction is advice; only when it took effect must 'auto' have read a copy.
        if (resident < 0.5) expect(cold.select(0, 3).item()).toBe(3);
      } finally {
        native.unmapFile(mapping);
      }
    });
  });

  it('converts and places mapped tensors like read ones, and loads many at once', () => {
    const path = writeFile(PAGE);
    using file = SafetensorsFile.open(path);
    torch.scope(() => {
      const all = loadTensors(file, undefined, { map: true, dtype: 'float64' });
      expect(all.get('head')!.dtype).toBe('float64');
      expect(all.get('head')!.tolist()).toEqual([-1, -2]);
      expect(all.get('w')!.select(0, 9).item()).toBe(9);
    });
  });

  it('rejects a bad map option and ranges outside the file', () => {
    const path = writeFile(16);
    using file = SafetensorsFile.open(path);
    const error = expectSafetensorsError(() => loadTensor(file, 'w', { map: 'yes' as unknown as boolean }), 'BAD_ARGUMENT');
    expect(error.reason).toBe("map must be true, false or 'auto', got yes");
    const mapping = native.mapFile(file.fd, path, file.fileSize);
    try {
      expect(() => native.mappedTensor(mapping, file.fileSize - 4, 8, 'float32', [2])).toThrow(/lie outside the \d+-byte file/);
      expect(() => native.mappedTensor(mapping, 8, 8, 'float32', [3])).toThrow(/8 bytes cannot hold shape \[3\] of float32/);
      // Misaligned for the dtype: no tensor (the caller reads a copy instead).
      expect(native.mappedTensor(mapping, 9, 4, 'float32', [1])).toBeNull();
      torch.scope(() => expect(wrap(native.mappedTensor(mapping, 9, 1, 'uint8', [1])!).dtype).toBe('uint8'));
      expect(() => native.mapFile(file.fd, path, file.fileSize + 1)).toThrow(/changed underneath/);
    } finally {
      expect(native.unmapFile(mapping)).toBe(true);
    }
    expect(native.unmapFile(mapping)).toBe(false);
    expect(() => native.mappedResidentFraction(mapping, 0, 1)).toThrow(/is not mapped/);
  });
});
