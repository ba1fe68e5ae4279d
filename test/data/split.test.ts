import { trainValidationSplit } from '../../src/data/split';

describe('trainValidationSplit', () => {
  test('trainValidationSplit partitions deterministically and keeps order', () => {
    const items = Array.from({ length: 101 }, (_, i) => `item${i}`);
    const split = trainValidationSplit(items, { validationFraction: 0.1, seed: 3 });
    expect(split.validation).toHaveLength(10);
    expect(split.train).toHaveLength(91);
    expect(new Set([...split.train, ...split.validation]).size).toBe(101);
    const position = (item: string) => items.indexOf(item);
    for (const part of [split.train, split.validation]) {
      expect(part.map(position)).toEqual([...part.map(position)].sort((x, y) => x - y));
    }
    expect(trainValidationSplit(items, { validationFraction: 0.1, seed: 3 })).toEqual(split);
    expect(trainValidationSplit(items, { validationFraction: 0.1, seed: 4 }).validation).not.toEqual(split.validation);
    expect(trainValidationSplit(items, { validationSize: 25, seed: 3 }).validation).toHaveLength(25);
    expect(trainValidationSplit(items, { validationSize: 0, seed: 3 }).train).toEqual(items);
  });

  test.each([
    [{ seed: 1 }, 'exactly one of'],
    [{ seed: 1, validationFraction: 0.1, validationSize: 3 }, 'exactly one of'],
    [{ seed: 1, validationFraction: 1 }, 'validationFraction must be in (0, 1), got 1'],
    [{ seed: 1, validationSize: 11 }, 'validationSize must be an integer in [0, 10], got 11'],
    [{ seed: 1, validationSize: 2.5 }, 'got 2.5'],
  ])('trainValidationSplit rejects %j', (options, message) => {
    expect(() => trainValidationSplit(new Array(10).fill(0), options)).toThrow(message);
  });
});
