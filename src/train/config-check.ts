// One validator for the trainers' configs (SftConfig, RlConfig): every field has a spec, and every
// numeric field a range, so a bad option is refused by name before anything is loaded or written.
//
// ConfigSpec<T> makes the compiler require a spec for each field of T, of the field's kind: adding
// a numeric option without a range does not type-check.

export interface NumberSpec {
  kind: 'integer' | 'number';
  min: number;
  /** inclusive upper bound (default: none, but the value must be finite) */
  max?: number;
  /** the bounds themselves are excluded */
  exclusiveMin?: boolean;
  exclusiveMax?: boolean;
  nullable?: boolean;
}
export interface StringSpec {
  kind: 'string';
  /** the allowed values (default: any non-empty string) */
  oneOf?: readonly string[];
  nullable?: boolean;
}
export interface BooleanSpec {
  kind: 'boolean';
}
export type FieldSpec = NumberSpec | StringSpec | BooleanSpec;

type SpecOf<V> = [NonNullable<V>] extends [number]
  ? NumberSpec
  : [NonNullable<V>] extends [string]
    ? StringSpec
    : [NonNullable<V>] extends [boolean]
      ? BooleanSpec
      : never;
type Nullability<V> = null extends V ? { nullable: true } : { nullable?: false };
export type ConfigSpec<T> = { readonly [K in keyof T]-?: SpecOf<T[K]> & (T[K] extends boolean ? unknown : Nullability<T[K]>) };

/** What a value must be, for error messages: "an integer in [0, 256]", "a number > 0", … */
export function describeSpec(s: FieldSpec): string {
  const orNull = 'nullable' in s && s.nullable ? ' or null' : '';
  if (s.kind === 'boolean') return 'true or false';
  if (s.kind === 'string') return (s.oneOf ? `one of ${s.oneOf.join(', ')}` : 'a non-empty string') + orNull;
  const what = s.kind === 'integer' ? 'an integer' : 'a number';
  const range =
    s.max === undefined
      ? `${s.exclusiveMin ? '>' : '>='} ${s.min}`
      : `in ${s.exclusiveMin ? '(' : '['}${s.min}, ${s.max}${s.exclusiveMax ? ')' : ']'}`;
  return `${what} ${range}${orNull}`;
}

export function fieldProblem(value: unknown, s: FieldSpec): boolean {
  if (value === null) return !('nullable' in s && s.nullable);
  switch (s.kind) {
    case 'boolean':
      return typeof value !== 'boolean';
    case 'string':
      return typeof value !== 'string' || (s.oneOf ? !s.oneOf.includes(value) : value === '');
    default: {
      if (typeof value !== 'number' || !Number.isFinite(value)) return true;
      if (s.kind === 'integer' && !Number.isInteger(value)) return true;
      if (s.exclusiveMin ? !(value > s.min) : !(value >= s.min)) return true;
      return s.max !== undefined && (s.exclusiveMax ? !(value < s.max) : value > s.max);
    }
  }
}

/** Checks every field of `c` against `spec`; a RangeError names the first bad field, its rule and its value. */
export function checkConfig<T extends object>(c: T, spec: ConfigSpec<T>): T {
  for (const [key, s] of Object.entries<FieldSpec>(spec)) {
    const value = (c as Record<string, unknown>)[key];
    if (fieldProblem(value, s))
      throw new RangeError(`${key} must be ${describeSpec(s)}, got ${JSON.stringify(value) ?? String(value)}`);
  }
  return c;
}
