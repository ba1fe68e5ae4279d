// Text of rollouts: the language alone (what is graded) and the language with each latent span shown
// as a marker, with the markers' character offsets (samples.jsonl, which the report highlights).
import type { Rollout } from './policy';

export interface TextDecoder {
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
}

/** The answer's language text (special tokens dropped). */
export function rolloutText(tokenizer: TextDecoder, r: Pick<Rollout, 'tokens'>): string {
  return tokenizer.decode(r.tokens, { skipSpecialTokens: true });
}

/** `⟨k latents⟩`: how a span appears in marked text. */
export function spanMarker(latents: number): string {
  return `⟨${latents} latent${latents === 1 ? '' : 's'}⟩`;
}

/** The answer with its spans as markers, and each marker's [start, end) character offsets. */
export function markedRolloutText(
  tokenizer: TextDecoder,
  r: Pick<Rollout, 'tokens' | 'spans'>,
): { text: string; spans: [number, number][] } {
  let text = '';
  let from = 0;
  const spans: [number, number][] = [];
  for (const s of r.spans) {
    text += tokenizer.decode(r.tokens.slice(from, s.at), { skipSpecialTokens: true });
    const marker = spanMarker(s.latents);
    spans.push([text.length, text.length + marker.length]);
    text += marker;
    from = s.at;
  }
  text += tokenizer.decode(r.tokens.slice(from), { skipSpecialTokens: true });
  return { text, spans };
}
