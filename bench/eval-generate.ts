// Eval generation benchmark: greedy decoding with latent spans (src/latent/decode.ts decodeLatent,
// what `latent eval`'s answer accuracy runs through generateBatch), one question per call (how eval
// generated before it was batched, --generate-batch 1) against batches of questions (--generate-batch B).
//
//   npm run bench -- eval-generate [--cases small.B8,...] [--repeats N] [--rounds N] [--clock cpu] ...
//
// The model and heads are those of the rl-rollout benchmark (build/bench-cache/rl-rollout/<shape>/):
// the start classifier always opens a span and the end classifier never stops it, so every row does
// the same work whatever the weights: before each of its tokens a span of the capped length. The
// greedy answers of a question are the same in every batch size (test/latent/decode.test.ts), so the
// cases differ only in how the work is batched. There is no counterpart: the comparison is batch 1
// against batch B in the same run.
import * as torch from '../src/torch';
import { decodeLatent, type DecodeOptions } from '../src/latent/decode';
import { LOOP, SHAPES, loadPolicy, type ShapeName } from './rl-rollout';
import { runSuite, type BenchCase } from './lib';

const QUESTIONS = 8;

function evalCase(shape: ShapeName, batch: number): BenchCase {
  const s = SHAPES[shape];
  const positionsPerToken = LOOP.latents + 3; // <bot>, the latents, <eot>, the token
  const options: DecodeOptions = {
    policy: { kind: 'greedy', startThreshold: 0.5, stopThreshold: 0.5 },
    maxNewTokens: LOOP.tokens,
    maxLatents: LOOP.latents,
    eosIds: [],
    // the text of each row, as generation tracks it for stop strings and breakpoints
    decode: (tokens) => tokens.join(' '),
  };
  return {
    name: `${shape}.B${batch}`,
    group: `${shape} Qwen2 (${s.layers} layers, hidden ${s.hidden}, vocab ${s.vocab}), float32, ${QUESTIONS} questions`,
    description:
      `decodeLatent(greedy) over ${QUESTIONS} prompts of ${LOOP.prompt} tokens in calls of ${batch}, ${LOOP.tokens} tokens each, ` +
      `a span of ${LOOP.latents} latents before each token; per position (${QUESTIONS * LOOP.tokens * positionsPerToken} per iteration)`,
    unitsPerIteration: QUESTIONS * LOOP.tokens * positionsPerToken,
    compareAs: null,
    setup() {
      const { m, dispose } = loadPolicy(shape);
      torch.manualSeed(3);
      const prompts = torch
        .scope(() => torch.randint(0, s.vocab - 2, [QUESTIONS, LOOP.prompt]).tolist() as number[][])
        .map((r) => r.map(Number));
      return {
        iteration: () => {
          for (let i = 0; i < QUESTIONS; i += batch)
            for (const row of decodeLatent(m, prompts.slice(i, i + batch), options)) row.latents?.dispose();
        },
        dispose,
      };
    },
  };
}

const CASES: BenchCase[] = [evalCase('tiny', 1), evalCase('tiny', 8), evalCase('small', 1), evalCase('small', 8)];

export async function main(argv: string[]): Promise<void> {
  await runSuite(
    {
      name: 'eval-generate',
      title: 'eval-generate: greedy generation with latent spans for answer accuracy, one question per call vs batches',
      cases: CASES,
      counterparts: [],
      timing: { warmupMs: 0, sampleMs: 1, repeats: 3, rounds: 2 },
      notes: [
        'Times are per position (a token, <bot>, latent or <eot> of one row); B1 runs the questions one per call, B8 all in one call.',
        'Same model, same heads, same greedy answers in every case: only the batching differs.',
      ],
    },
    argv,
  );
}
