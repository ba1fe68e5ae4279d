// Plain-text tables for the terminal: columns padded to their widest cell, two spaces apart.

/** The header and rows as lines, each column padded to its widest cell (trailing spaces trimmed). */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    widths
      .map((w, i) => (cells[i] ?? '').padEnd(w))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
