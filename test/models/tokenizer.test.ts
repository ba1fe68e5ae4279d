import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tokenizer } from '../../src/models/tokenizer';
import { runPython } from '../helpers/python';
import { findPythonWith } from '../hub/python';
import { QWEN_DIR, describeQwen, loadCorpus, tinyConfig, tinyTokenizerJson } from './tokenizer-fixtures';

let scratch: string;
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-tokenizer-'));
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('Tokenizer on a tiny byte-level BPE', () => {
  const tiny = (): Tokenizer => Tokenizer.fromJson(tinyTokenizerJson(), tinyConfig);

  test('encodes with the merges, decodes back, and reports ids and sizes', () => {
    const tokenizer = tiny();
    expect(tokenizer.tokenize('the low the')).toEqual(['t', 'he', 'Ġlow', 'Ġthe']);
    const ids = tokenizer.encode('the low the<|end|>');
    expect(ids).toEqual([116, 257, 261, 258, 300]);
    expect(tokenizer.decode(ids)).toBe('the low the<|end|>');
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe('the low the');
    expect(tokenizer.decode([])).toBe('');
    expect(tokenizer.encodeBatch(['he', 'lo'])).toEqual([[257], [259]]);
    expect(tokenizer.vocabSize).toBe(301);
    expect(tokenizer.eosTokenId).toBe(300);
    expect(tokenizer.padTokenId).toBe(300);
    expect(tokenizer.bosTokenId).toBeUndefined();
    expect(tokenizer.specialTokenIds).toEqual([300]);
    expect(tokenizer.tokenToId('Ġthe')).toBe(258);
    expect(tokenizer.idToToken(258)).toBe('Ġthe');
    expect(tokenizer.idToToken(280)).toBeUndefined();
  });

  test('decodeToken shows the text of a token, and incomplete UTF-8 bytes as <0xNN>', () => {
    const tokenizer = tiny();
    expect(tokenizer.decodeToken(258)).toBe(' the');
    expect(tokenizer.decodeToken(300)).toBe('<|end|>');
    const euro = tokenizer.encode('€'); // three bytes, no merges: three partial tokens
    expect(euro.map((id) => tokenizer.decodeToken(id))).toEqual(['<0xE2>', '<0x82>', '<0xAC>']);
    expect(tokenizer.decode(euro)).toBe('€');
    expect(tokenizer.decodeToken(10)).toBe('\n');
  });

  test('invalid ids fail naming the id and the valid range', () => {
    const tokenizer = tiny();
    expect(() => tokenizer.decode([116, 280])).toThrow(/ids\[1\]: 280 is not a token id .* \(ids are 0\.\.300\)/);
    expect(() => tokenizer.decodeToken(-1)).toThrow(/-1 is not a token id/);
    expect(() => tokenizer.decodeToken(1.5)).toThrow(RangeError);
  });

  test('addSpecialTokens appends after the highest id, is idempotent, and the tokens are never split', () => {
    const tokenizer = tiny();
    expect(tokenizer.addSpecialTokens(['<bot>', '<eot>'])).toEqual([301, 302]);
    expect(tokenizer.addSpecialTokens(['<eot>', '<bot>', '<|end|>'])).toEqual([302, 301, 300]);
    expect(tokenizer.vocabSize).toBe(303);
    expect(tokenizer.encode('the<bot>low<eot> the')).toEqual([116, 257, 301, 260, 302, 258]);
    expect(tokenizer.decode(tokenizer.encode('a<bot>b'), { skipSpecialTokens: true })).toBe('ab');
    expect(tokenizer.decodeToken(301)).toBe('<bot>');
    // A token already in the vocabulary keeps its id and becomes unsplittable.
    expect(tokenizer.addSpecialTokens(['lo'])).toEqual([259]);
    expect(tokenizer.tokenize('low')).toEqual(['lo', 'w']);
    expect(() => tokenizer.addSpecialTokens([''])).toThrow(/tokens\[0\] must be a non-empty string/);
  });

  test('save writes files that reload to the same tokenizer, added tokens included', () => {
    const tokenizer = tiny();
    tokenizer.addSpecialTokens(['<bot>', '<eot>']);
    const dir = path.join(scratch, 'tiny-saved');
    tokenizer.save(dir);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
    expect(config.added_tokens_decoder['301']).toMatchObject({ content: '<bot>', special: true });
    expect(config.additional_special_tokens).toEqual(['<bot>', '<eot>']);
    expect(config.tokenizer_class).toBe('PreTrainedTokenizerFast');
    const reloaded = Tokenizer.fromDir(dir);
    const sample = 'the<bot> low<eot><|end|> €';
    expect(reloaded.encode(sample)).toEqual(tokenizer.encode(sample));
    expect(reloaded.vocabSize).toBe(303);
    expect(reloaded.eosTokenId).toBe(300);
    expect(fs.readdirSync(dir).sort()).toEqual(['tokenizer.json', 'tokenizer_config.json']);
  });

  test('tokens listed only in tokenizer_config.json are added, as transformers does', () => {
    const config = { added_tokens_decoder: { '301': { content: '<x>', special: true } } };
    const tokenizer = Tokenizer.fromJson(tinyTokenizerJson(), config);
    expect(tokenizer.encode('a<x>')).toEqual([97, 301]);
    const clash = { added_tokens_decoder: { '300': { content: '<y>', special: true } } };
    expect(() => Tokenizer.fromJson(tinyTokenizerJson(), clash)).toThrow(
      /id 300 is "<\|end\|>" in tokenizer.json but "<y>" in tokenizer_config.json/,
    );
  });

  test('clear errors for bad files and unsupported restriction', () => {
    fs.writeFileSync(path.join(scratch, 'broken.json'), '{\n  "model": {\n    "vocab": {,}\n  }\n}\n');
    expect(() => Tokenizer.fromFile(path.join(scratch, 'broken.json'))).toThrow(
      /broken\.json: invalid JSON at line 3, column 15/,
    );
    fs.mkdirSync(path.join(scratch, 'empty'), { recursive: true });
    expect(() => Tokenizer.fromDir(path.join(scratch, 'empty'))).toThrow(/has no tokenizer\.json/);
    expect(() => Tokenizer.fromJson({ added_tokens: [] })).toThrow(/has no "model" object/);
    expect(() => Tokenizer.fromJson(tinyTokenizerJson(), { eos_token: '</s>' })).toThrow(
      /eos_token "<\/s>" .* is not in the vocabulary/,
    );
  });
});

describeQwen('Tokenizer on the Qwen tokenizer', () => {
  let qwen: Tokenizer;
  beforeAll(() => {
    qwen = Tokenizer.fromDir(QWEN_DIR);
  });

  test('ids match the reference tokenization; digits are single tokens', () => {
    const ids = qwen.encode('So the total is 7 * 3,200 = 22,400.');
    expect(ids.slice(-18)).toEqual([220, 22, 353, 220, 18, 11, 17, 15, 15, 284, 220, 17, 17, 11, 19, 15, 15, 13]);
    expect(qwen.decode(ids)).toBe('So the total is 7 * 3,200 = 22,400.');
  });

  test('special tokens come from tokenizer_config.json', () => {
    expect(qwen.vocabSize).toBe(151669);
    expect(qwen.eosTokenId).toBe(qwen.tokenToId('<|im_end|>'));
    expect(qwen.padTokenId).toBe(qwen.tokenToId('<|endoftext|>'));
    expect(qwen.eosTokenId).toBe(151645);
    expect(qwen.bosTokenId).toBeUndefined();
    expect(qwen.encode('<|im_start|>user')).toEqual([151644, 872]);
  });

  test('decodeToken gives readable text per token, multi-byte pieces included', () => {
    const ids = qwen.encode('日本語 héllo 🤖');
    expect(qwen.decode(ids)).toBe('日本語 héllo 🤖');
    const pieces = ids.map((id) => qwen.decodeToken(id));
    expect(pieces.slice(0, 5)).toEqual(['日本', '語', ' h', 'él', 'lo']);
    expect(pieces.slice(5).join('')).toBe(' <0xF0><0x9F><0xA4><0x96>');
  });

  describe('addSpecialTokens, save, and loading in Python', () => {
    let withMarkers: Tokenizer;
    let markerIds: number[];
    beforeAll(() => {
      withMarkers = Tokenizer.fromDir(QWEN_DIR);
      markerIds = withMarkers.addSpecialTokens(['<bot>', '<eot>']);
    });

    test('markers get the next ids and encode as single tokens', () => {
      expect(markerIds).toEqual([151669, 151670]);
      expect(withMarkers.addSpecialTokens(['<bot>', '<eot>'])).toEqual([151669, 151670]);
      expect(withMarkers.vocabSize).toBe(151671);
      const ids = withMarkers.encode('x = 7<bot><eot>So');
      expect(ids).toEqual([...qwen.encode('x = 7'), 151669, 151670, ...qwen.encode('So')]);
      expect(withMarkers.decode(ids, { skipSpecialTokens: true })).toBe('x = 7So');
    });

    test('saved files reload to the same behaviour', () => {
      const dir = path.join(scratch, 'qwen-markers');
      withMarkers.save(dir);
      const reloaded = Tokenizer.fromDir(dir);
      expect(reloaded.vocabSize).toBe(151671);
      for (const text of SAMPLES) expect(reloaded.encode(text)).toEqual(withMarkers.encode(text));
      expect(reloaded.eosTokenId).toBe(151645);
    });

    const { python, reason } = findPythonWith(['tokenizers', 'transformers']);
    const testWithPython = python ? test : test.skip;
    if (!python) console.log(`skipping Python tokenizer cross-checks: ${reason}`);

    testWithPython('saved tokenizers (full with markers, and restricted) load in Python with identical ids', () => {
      const markers = withMarkers;
      const markersDir = path.join(scratch, 'py-markers');
      markers.save(markersDir);
      const corpus = loadCorpus(100);
      const { tokenizer: small } = markers.restrictTo(corpus, { keepTokens: ['<bot>', '<eot>'] });
      const smallDir = path.join(scratch, 'py-small');
      small.save(smallDir);

      const script = `
import os
from tokenizers import Tokenizer
from transformers import AutoTokenizer
from transformers.utils import logging
logging.set_verbosity_error()
data = INPUT
out = {}
for name in ["markers", "small"]:
    d = data["dirs"][name]
    fast = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(d)
    out[name] = {
        "fast": [fast.encode(s).ids for s in data["samples"]],
        "auto": [auto.encode(s) for s in data["samples"]],
        "corpus_tokens": [fast.encode(s).tokens for s in data["corpus"]],
        "len": len(auto), "eos": auto.eos_token_id, "pad": auto.pad_token_id,
        "skip": auto.decode(auto.encode(data["samples"][0]), skip_special_tokens=True),
    }
emit(out)
`;
      type PythonView = {
        fast: number[][];
        auto: number[][];
        corpus_tokens: string[][];
        len: number;
        eos: number;
        pad: number;
        skip: string;
      };
      const result = runPython<Record<'markers' | 'small', PythonView>>(script, {
        samples: SAMPLES,
        corpus,
        dirs: { markers: markersDir, small: smallDir },
      });

      for (const [name, tokenizer] of [
        ['markers', markers],
        ['small', small],
      ] as const) {
        const view = result[name];
        const ours = SAMPLES.map((s) => tokenizer.encode(s));
        expect(view.fast).toEqual(ours);
        expect(view.auto).toEqual(ours);
        expect(view.len).toBe(tokenizer.vocabSize);
        expect(view.eos).toBe(tokenizer.eosTokenId);
        expect(view.pad).toBe(tokenizer.padTokenId);
        expect(view.skip).toBe(tokenizer.decode(tokenizer.encode(SAMPLES[0]), { skipSpecialTokens: true }));
      }
      // The restricted tokenizer, run by the Rust library, tokenizes the corpus exactly as the full one does here.
      expect(result.small.corpus_tokens).toEqual(corpus.map((text) => qwen.tokenize(text)));
      expect(result.markers.fast[0]).toContain(151669);
    });
  });
});

const SAMPLES = [
  'Natalia sold clips<bot><eot> to 48 of her friends.<|im_end|>',
  '7 * 3,200 = 22,400.',
  '  leading spaces and\nnew lines\n\n<eot>',
  'Unicode: 東京 naïve café 🤖',
];
