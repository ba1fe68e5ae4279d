import { textTable } from '../../src/util/text-table';

test('columns padded to their widest cell, two spaces apart, trailing spaces trimmed', () => {
  expect(
    textTable(
      ['run', 'verdict', 'n'],
      [
        ['baseline-k0', '—', '1'],
        ['a', 'helps', ''],
      ],
    ),
  ).toEqual(['run          verdict  n', 'baseline-k0  —        1', 'a            helps']);
  expect(textTable(['x'], [])).toEqual(['x']);
});
