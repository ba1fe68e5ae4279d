// Every position's numbers for a token sequence with latent spans inserted: what `latent logits
// --spans` prints, so that a latent input form (or a coupling) can be checked against another
// implementation position by position.
import * as torch from '../torch';
import type { LatentModel } from './model';
import { Role, sequenceWithSpans } from './sequence';

export type PositionKind = 'token' | 'bot' | 'latent' | 'eot';

export interface PositionOutputs {
  /** the sequence run: the tokens with `<bot>`, latents (-1) and `<eot>` inserted */
  ids: number[];
  kinds: PositionKind[];
  /** [positions][vocab]: the language model head at each position's hidden state */
  logits: number[][];
  /** [positions][D]: the hidden state after the final norm of the trunk that computed the position */
  hidden: number[][];
  /** [positions]: the input embedding at marker and latent positions (null at tokens, whose input is their embedding row) */
  inputs: (number[] | null)[];
}

const KIND: Record<Role, PositionKind> = {
  [Role.Prompt]: 'token',
  [Role.Language]: 'token',
  [Role.Bot]: 'bot',
  [Role.Latent]: 'latent',
  [Role.Eot]: 'eot',
};

/**
 * Runs `ids` with a span of `count` latents after each token position `after` (the latent forward,
 * as training and evaluation run it) and returns every position's logits, hidden state and, where
 * it is not a token, its input embedding.
 */
export function latentLogits(
  lm: LatentModel,
  ids: readonly number[],
  spans: readonly { after: number; count: number }[],
): PositionOutputs {
  const vocab = lm.model.config.vocabSize;
  const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
  if (bad !== undefined) throw new RangeError(`token ${bad} is outside the vocabulary (vocab_size ${vocab})`);
  const seq = sequenceWithSpans(ids, spans, lm.botId, lm.eotId);
  return torch.noGrad(() =>
    torch.scope(() => {
      const r = lm.forward([seq], { collectHidden: true, collectLatents: true });
      try {
        const hidden = r.hidden[0];
        const w = lm.backbone.embedWeight;
        const logits = lm.backbone.lmHead(hidden.dtype === w.dtype ? hidden : hidden.to(w.dtype));
        const rows = (t: torch.Tensor) => t.to('float64').tolist() as number[][];
        const inputs: (number[] | null)[] = seq.ids.map(() => null);
        const markers = rows(lm.heads.markers);
        seq.roles.forEach((role, p) => {
          if (role === Role.Bot) inputs[p] = markers[0];
          if (role === Role.Eot) inputs[p] = markers[1];
        });
        for (const l of r.latents)
          inputs[seq.spans[l.span].botPosition + 1 + l.step] = l.embed.to('float64').tolist() as number[];
        return { ids: seq.ids, kinds: seq.roles.map((role) => KIND[role]), logits: rows(logits), hidden: rows(hidden), inputs };
      } finally {
        for (const l of r.latents) {
          l.embed.dispose();
          l.hidden.dispose();
        }
      }
    }),
  );
}

/** Parses `--spans`: "POS:K[,POS:K…]" for every sequence, or one such list per sequence separated by ";". */
export function parseSpans(text: string, sequences: number): { after: number; count: number }[][] {
  const lists = text.split(';').map((s) => s.trim());
  if (lists.length !== 1 && lists.length !== sequences)
    throw new RangeError(
      `--spans: ${lists.length} span lists for ${sequences} sequences (give one list for all, or one per sequence, separated by ";")`,
    );
  const parsed = lists.map((list, i) =>
    list === ''
      ? []
      : list.split(',').map((item, j) => {
          const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(item);
          if (!m)
            throw new RangeError(
              `--spans: list ${i + 1}, item ${j + 1} is ${JSON.stringify(item)}, not POS:K (a token position and a latent count)`,
            );
          return { after: Number(m[1]), count: Number(m[2]) };
        }),
  );
  return lists.length === 1 ? new Array(sequences).fill(parsed[0]) : parsed;
}
