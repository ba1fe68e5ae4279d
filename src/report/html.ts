// HTML building blocks for reports. Every interpolated value is escaped unless it is already a
// SafeHtml, so report text from run directories (questions, rollouts, decoded tokens, paths) cannot
// inject markup; only the renderer's own SVG is admitted through `trustedHtml`.

/** Markup that is already safe to place in a document. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function renderValue(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(renderValue).join('');
  return escapeHtml(String(value));
}

/** Tagged template: `html\`<td>${text}</td>\`` escapes `text`; nested SafeHtml and arrays are inserted as is. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += renderValue(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}

/** Admits markup produced by trusted code (the SVG renderer); never pass run-directory text here. */
export function trustedHtml(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/** A table with a header row; cells are escaped unless SafeHtml. Numeric-looking columns align right via `numeric`. */
export function htmlTable(
  headers: readonly string[],
  rows: readonly (readonly HtmlValue[])[],
  options: { numeric?: readonly number[]; className?: string } = {},
): SafeHtml {
  const numeric = new Set(options.numeric ?? []);
  const cls = (i: number) => (numeric.has(i) ? new SafeHtml(' class="num"') : '');
  return html`<table${options.className ? html` class="${options.className}"` : ''}><thead><tr>${headers.map((h, i) => html`<th${cls(i)}>${h}</th>`)}</tr></thead><tbody>${rows.map(
    (row) =>
      html`<tr>
        ${row.map((cell, i) => html`<td${cls(i)}>${cell}</td>`)}
      </tr>`,
  )}</tbody></table>`;
}

/** A number for tables: integers as is, others with 4 significant digits, tiny/huge ones in exponent form. */
export function formatNumber(value: number | undefined, digits = 4): string {
  if (value === undefined || Number.isNaN(value)) return '—';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '−∞';
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(digits - 1);
  return String(Number(value.toPrecision(digits)));
}

export function formatPercent(fraction: number | undefined, digits = 1): string {
  if (fraction === undefined || !Number.isFinite(fraction)) return '—';
  return `${(fraction * 100).toFixed(digits)}%`;
}

export function formatInterval(interval: readonly [number, number] | undefined): string {
  return interval ? `[${formatNumber(interval[0])}, ${formatNumber(interval[1])}]` : '—';
}

/** Tokens are shown JSON-quoted so leading spaces, newlines and empty strings stay visible. */
export function formatToken(token: string): string {
  return JSON.stringify(token);
}

/** A lowercase identifier usable in ids and file names (deterministic; collisions are the caller's concern). */
export function slugify(text: string): string {
  const slug = text
    .normalize('NFKD')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/[^\w-]+/g, '-')
    .replace(/_/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase();
  return slug || 'x';
}
