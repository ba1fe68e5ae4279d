// Generation: greedy decoding against a cache-free reference loop, batching against single prompts,
// sampling filters, eos and stop strings, streaming, and flat memory.
import * as torch from '../../../src/torch';
import {
  filterLogits,
  generate,
  sampleTokens,
  StreamingText,
  type Qwen2ForCausalLM,
  type TokenEvent,
} from '../../../src/models/qwen2';
import { ids, tinyModel, wordTokenizer } from './helpers';

const VOCAB = 64;

/** Greedy continuation by recomputing the whole sequence each step (no cache). */
function greedyReference(model: Qwen2ForCausalLM, prompt: number[], steps: number): number[] {
  const seq = [...prompt];
  torch.noGrad(() => {
    for (let i = 0; i < steps; i++) {
      const next = torch.scope(() =>
        Number(
          model
            .forward({ inputIds: ids(seq) })
            .logits.select(1, -1)
            .argmax(-1)
            .item(),
        ),
      );
      seq.push(next);
    }
  });
  return seq.slice(prompt.length);
}

describe('generate', () => {
  let model: Qwen2ForCausalLM;
  beforeAll(() => {
    model = tinyModel({ vocabSize: VOCAB }, { seed: 21 });
  });
  afterAll(() => model.dispose());

  test('greedy decoding with the cache equals recomputing the sequence each step', () => {
    const prompt = [4, 8, 15, 16, 23];
    const [result] = generate(model, [prompt], { maxNewTokens: 12 });
    expect(result.tokens).toEqual(greedyReference(model, prompt, 12));
    expect(result.finishReason).toBe('length');
    expect(result.text).toBeNull();
  });

  test('a batch of prompts of different lengths equals generating each alone', () => {
    const prompts = [[4, 8, 15, 16, 23], [42], [7, 7, 9]];
    const batched = generate(model, prompts, { maxNewTokens: 10 });
    prompts.forEach((p, i) => expect(batched[i].tokens).toEqual(generate(model, [p], { maxNewTokens: 10 })[0].tokens));
  });

  test('stops a sequence at an eos id (kept as its last token) while the others continue', () => {
    const prompts = [
      [4, 8, 15],
      [42, 1],
    ];
    const free = generate(model, prompts, { maxNewTokens: 10 });
    const eos = free[0].tokens[3];
    const cutAt = free[0].tokens.indexOf(eos);
    const stopped = generate(model, prompts, { maxNewTokens: 10, eosTokenIds: [eos] });
    expect(stopped[0].tokens).toEqual(free[0].tokens.slice(0, cutAt + 1));
    expect(stopped[0].finishReason).toBe('eos');
    const otherCut = free[1].tokens.indexOf(eos);
    expect(stopped[1].tokens).toEqual(otherCut < 0 ? free[1].tokens : free[1].tokens.slice(0, otherCut + 1));
  });

  test('sampling is reproducible with a seed; top-k 1 and a tiny top-p are greedy', () => {
    const prompt = [[3, 1, 4, 1, 5]];
    const a = generate(model, prompt, { maxNewTokens: 16, temperature: 1.5, seed: 1234 });
    const b = generate(model, prompt, { maxNewTokens: 16, temperature: 1.5, seed: 1234 });
    expect(a[0].tokens).toEqual(b[0].tokens);
    const greedy = generate(model, prompt, { maxNewTokens: 16 })[0].tokens;
    expect(a[0].tokens).not.toEqual(greedy); // at temperature 1.5 over 64 tokens, 16 draws all equal to the argmax would be absurd
    expect(generate(model, prompt, { maxNewTokens: 16, temperature: 1.5, topK: 1, seed: 9 })[0].tokens).toEqual(greedy);
    expect(generate(model, prompt, { maxNewTokens: 16, temperature: 1.5, topP: 1e-6, seed: 9 })[0].tokens).toEqual(greedy);
  });

  test('streams every token in order with its sequence and step', () => {
    const events: TokenEvent[] = [];
    const results = generate(model, [[1, 2], [3]], { maxNewTokens: 5, onToken: (e) => events.push(e) });
    for (const seq of [0, 1]) {
      const mine = events.filter((e) => e.sequence === seq);
      expect(mine.map((e) => e.tokenId)).toEqual(results[seq].tokens);
      expect(mine.map((e) => e.step)).toEqual([0, 1, 2, 3, 4]);
      expect(mine.map((e) => e.finishReason)).toEqual([undefined, undefined, undefined, undefined, 'length']);
    }
  });

  test('stop strings end a sequence; the text is cut before them and the stream never shows them', () => {
    const tokenizer = wordTokenizer(VOCAB);
    const prompt = [tokenizer.encode('w4 w8 w15')];
    const [free] = generate(model, prompt, { maxNewTokens: 12, tokenizer });
    expect(free.text).toBe(tokenizer.decode(free.tokens, { skipSpecialTokens: true }));
    const words = free.text!.split(' ');
    const stop = ` ${words[5]} ${words[6]}`;
    const expected = free.text!.slice(0, free.text!.indexOf(stop));

    let streamed = '';
    const [cut] = generate(model, prompt, {
      maxNewTokens: 12,
      tokenizer,
      stopStrings: ['never appears', stop],
      onToken: (e) => (streamed += e.text),
    });
    expect(cut.finishReason).toBe('stop-string');
    expect(cut.text).toBe(expected);
    expect(streamed).toBe(expected);
    // generation ended with the token that completed the stop string
    expect(cut.tokens).toEqual(free.tokens.slice(0, cut.tokens.length));
    expect(tokenizer.decode(cut.tokens)).toContain(stop);
    expect(tokenizer.decode(cut.tokens.slice(0, -1))).not.toContain(stop);
    expect(() => generate(model, prompt, { maxNewTokens: 2, stopStrings: ['x'] })).toThrow(/stopStrings need a tokenizer/);
  });

  test('memory stays flat: generation frees everything it allocates', () => {
    generate(model, [[1, 2, 3]], { maxNewTokens: 3 }); // warm-up (rotary frequencies are cached once)
    const before = torch.memory().liveTensors;
    generate(model, [[1, 2, 3], [4]], { maxNewTokens: 20, temperature: 1, topK: 10, topP: 0.9, seed: 1 });
    expect(torch.memory().liveTensors).toBe(before);
  });

  test('rejects bad arguments with clear messages', () => {
    expect(() => generate(model, [[1]], { maxNewTokens: 0 })).toThrow(/maxNewTokens must be a positive integer/);
    expect(() => generate(model, [[]], { maxNewTokens: 1 })).toThrow(/prompt 0 is empty/);
    expect(() => generate(model, [[1, 64]], { maxNewTokens: 1 })).toThrow(
      /prompt 0 token 1 is 64, outside the vocabulary \[0, 64\)/,
    );
    expect(() => generate(model, [[1]], { maxNewTokens: 1, temperature: 1, topP: 0 })).toThrow(/topP must be in \(0, 1\]/);
    expect(() => generate(model, [[1]], { maxNewTokens: 1, eosTokenIds: [99] })).toThrow(/token id 99 \(eos\/pad\) is outside/);
  });
});

describe('sampling filters', () => {
  const logits = () =>
    torch.tensor(
      [
        [1, 3, 2, 0.5, 2.5],
        [0, 0, 0, 10, 0],
      ],
      { dtype: 'float32' },
    );
  const kept = (t: torch.Tensor) => (t.tolist() as number[][]).map((row) => row.map((v) => v !== -Infinity));

  test('top-k keeps the k largest logits of each row', () => {
    expect(kept(filterLogits(logits(), { topK: 2 }))).toEqual([
      [false, true, false, false, true],
      [true, true, true, true, true], // ties with the k-th largest value (0) all survive, as in Hugging Face
    ]);
  });

  test('top-p keeps the smallest most-likely set reaching p (and always the argmax)', () => {
    // row 0 probabilities: 3 -> .43, 2.5 -> .26, 2 -> .16, 1 -> .06, .5 -> .04
    expect(kept(filterLogits(logits(), { topP: 0.6 }))[0]).toEqual([false, true, false, false, true]);
    expect(kept(filterLogits(logits(), { topP: 0.8 }))[0]).toEqual([false, true, true, false, true]);
    expect(kept(filterLogits(logits(), { topP: 0.01 }))).toEqual([
      [false, true, false, false, false],
      [false, false, false, true, false],
    ]);
  });

  test('samples follow the filtered distribution', () => {
    torch.manualSeed(5);
    const counts = new Array(5).fill(0);
    const rows = torch.tensor([[1, 3, 2, 0.5, 2.5]], { dtype: 'float32' }).expand([4000, 5]);
    for (const id of sampleTokens(rows, { temperature: 1, topK: 2 }).tolist() as number[]) counts[Number(id)]++;
    expect(counts[0] + counts[2] + counts[3]).toBe(0);
    const expectedShare = 1 / (1 + Math.exp(-0.5)); // softmax over {3, 2.5}
    expect(Math.abs(counts[1] / 4000 - expectedShare)).toBeLessThan(0.03);
  });
});

describe('StreamingText', () => {
  test('holds back text that may start a stop string until it is decided', () => {
    const tokenizer = wordTokenizer(16);
    const stream = new StreamingText(tokenizer, ['w3 w9']);
    const out = [1, 2, 3, 4].map((id, i) => stream.push(id, i === 3));
    expect(out.map((o) => o.text)).toEqual(['w1', ' w2', ' ', 'w3 w4']); // "w3" waited for the next word
    expect(stream.final).toBe('w1 w2 w3 w4');
    const stopped = new StreamingText(tokenizer, ['w3 w9']);
    const texts = [1, 3, 9, 4].map((id) => stopped.push(id, false));
    expect(texts.map((t) => [t.text, t.stopped])).toEqual([
      ['w1', false],
      [' ', false],
      ['', true],
      ['', true],
    ]);
    expect(stopped.final).toBe('w1 ');
  });
});
