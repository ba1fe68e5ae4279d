/**
 * File-name patterns as huggingface_hub's `allow_patterns` understands them: Python `fnmatch` semantics
 * (`*` matches any run of characters including `/`, `?` one character, `[seq]` / `[!seq]` a class), case-sensitive,
 * and a pattern ending in `/` matches everything below that folder.
 */

const compiled = new Map<string, RegExp>();

export function patternToRegExp(pattern: string): RegExp {
  const cached = compiled.get(pattern);
  if (cached) return cached;
  const glob = pattern.endsWith('/') ? `${pattern}*` : pattern;
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i];
    if (char === '*') source += '[\\s\\S]*';
    else if (char === '?') source += '[\\s\\S]';
    else if (char === '[') {
      // As in fnmatch.translate: a ']' right after '[' or '[!' is a literal member, not the end of the class.
      let searchFrom = i + 1;
      if (glob[searchFrom] === '!') searchFrom++;
      if (glob[searchFrom] === ']') searchFrom++;
      const close = glob.indexOf(']', searchFrom);
      if (close < 0) {
        source += '\\[';
        continue;
      }
      let members = glob.slice(i + 1, close);
      const negated = members.startsWith('!');
      if (negated) members = members.slice(1);
      source += `[${negated ? '^' : ''}${members.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  const regexp = new RegExp(`^${source}$`);
  compiled.set(pattern, regexp);
  return regexp;
}

export function matchesAnyPattern(file: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => patternToRegExp(pattern).test(file));
}
