import { Tokenizer } from '../../src/models/tokenizer';
import { QWEN_DIR, describeQwen, loadCorpus, tinyConfig, tinyTokenizerJson } from './tokenizer-fixtures';

describe('restricting a tiny byte-level BPE', () => {
  const tiny = (): Tokenizer => Tokenizer.fromJson(tinyTokenizerJson(), tinyConfig);

  test('restrictTo keeps what the corpus needs and reproduces its tokens', () => {
    const tokenizer = tiny();
    const { tokenizer: small, oldToNew, newToOld } = tokenizer.restrictTo(['the low']);
    // bytes + he + Ġthe? no: "the" is t+he; " low" needs lo, low, Ġlow; eos/pad (<|end|>) is kept.
    expect(newToOld).toEqual([...Array(256).keys(), 257, 259, 260, 261, 300]);
    expect(oldToNew.get(300)).toBe(260);
    expect(small.eosTokenId).toBe(260);
    expect(small.tokenize('the low')).toEqual(['t', 'he', 'Ġlow']);
    expect(small.tokenize(' the')).toEqual(['Ġ', 't', 'he']); // Ġthe was dropped: falls back to smaller pieces
    expect(small.decode(small.encode(' the €'))).toBe(' the €');
  });

  test('tokenizers other than byte-level BPE are refused, naming why', () => {
    const metaspace = {
      ...tinyTokenizerJson(),
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    };
    expect(() => Tokenizer.fromJson(metaspace).restrictTo(['x'])).toThrow(
      /byte-level BPE tokenizers only; .*pre-tokenizer is not byte-level/,
    );
  });
});

describeQwen('restricting the Qwen tokenizer', () => {
  let qwen: Tokenizer;
  beforeAll(() => {
    qwen = Tokenizer.fromDir(QWEN_DIR);
  });

  describe('restrictTo a corpus', () => {
    const corpus = loadCorpus(300);
    let restricted: ReturnType<Tokenizer['restrictTo']>;
    beforeAll(() => {
      restricted = qwen.restrictTo(corpus, { keepTokens: ['<|im_start|>'] });
    });

    test('ids are 0..n-1 and map back to the same token strings', () => {
      const { tokenizer, oldToNew, newToOld } = restricted;
      expect(tokenizer.vocabSize).toBe(newToOld.length);
      expect(newToOld.length).toBeLessThan(20000);
      expect(newToOld.map((oldId) => oldToNew.get(oldId))).toEqual(newToOld.map((_, newId) => newId));
      expect(newToOld.map((_, newId) => tokenizer.idToToken(newId))).toEqual(newToOld.map((oldId) => qwen.idToToken(oldId)));
      expect(oldToNew.size).toBe(newToOld.length);
      expect(tokenizer.eosTokenId).toBe(oldToNew.get(qwen.eosTokenId!));
      expect(tokenizer.padTokenId).toBe(oldToNew.get(qwen.padTokenId!));
      expect(tokenizer.tokenToId('<|im_start|>')).toBe(oldToNew.get(151644));
    });

    test('every corpus text gives the same tokens as with the full tokenizer', () => {
      const { tokenizer, oldToNew } = restricted;
      for (const text of corpus) {
        const fullIds = qwen.encode(text);
        expect(tokenizer.encode(text)).toEqual(fullIds.map((id) => oldToNew.get(id)));
        expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
      }
    });

    test('other text is still encoded losslessly', () => {
      const text = 'Zebras ✓ größer 東京 🤖 <weird> \t\r\n x';
      expect(restricted.tokenizer.decode(restricted.tokenizer.encode(text))).toBe(text);
    });
  });
});
