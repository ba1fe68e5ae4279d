import * as os from 'os';
import * as path from 'path';
import { hubCacheDir, isRepoId } from '../../src/hub';
import { matchesAnyPattern, patternToRegExp } from '../../src/hub/patterns';

describe('allow patterns (fnmatch semantics, as huggingface_hub)', () => {
  const matches = (file: string, pattern: string): boolean => patternToRegExp(pattern).test(file);

  test('* spans folders, ? is one character, literal dots', () => {
    expect(matches('model-00001-of-00002.safetensors', '*.safetensors')).toBe(true);
    expect(matches('sub/dir/model.safetensors', '*.safetensors')).toBe(true);
    expect(matches('model.safetensors.index.json', '*.safetensors')).toBe(false);
    expect(matches('pytorch_model.bin', '*.safetensors')).toBe(false);
    expect(matches('configXjson', 'config.json')).toBe(false);
    expect(matches('config.json', 'config.json')).toBe(true);
    expect(matches('a1.txt', 'a?.txt')).toBe(true);
    expect(matches('a12.txt', 'a?.txt')).toBe(false);
    expect(matches('Config.json', 'config.json')).toBe(false);
  });

  test('character classes, negation, literal ] and unclosed [', () => {
    expect(matches('shard-1', 'shard-[0-9]')).toBe(true);
    expect(matches('shard-x', 'shard-[0-9]')).toBe(false);
    expect(matches('shard-x', 'shard-[!0-9]')).toBe(true);
    expect(matches(']', '[]]')).toBe(true);
    expect(matches('a[b', 'a[b')).toBe(true);
    expect(matches('a^', 'a[\\^]')).toBe(true);
  });

  test('a trailing slash selects a folder', () => {
    expect(matches('onnx/model.onnx', 'onnx/')).toBe(true);
    expect(matches('onnx', 'onnx/')).toBe(false);
    expect(matchesAnyPattern('tokenizer.json', ['config.json', 'tokenizer.*'])).toBe(true);
    expect(matchesAnyPattern('vocab.txt', ['config.json', 'tokenizer.*'])).toBe(false);
  });
});

describe('isRepoId', () => {
  test.each(['Qwen/Qwen2.5-0.5B', 'gpt2', 'org_1/model.v2', 'a/b'])('accepts %s', (id) => expect(isRepoId(id)).toBe(true));
  test.each(['./model', '/abs/path', 'a/b/c', 'a--b/c', 'a/..b', '.hidden/x', 'a/', '', `a/${'x'.repeat(100)}`])(
    'rejects %s',
    (id) => expect(isRepoId(id)).toBe(false),
  );
});

describe('hubCacheDir', () => {
  test('HF_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME/huggingface/hub, then ~/.cache/huggingface/hub', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/c/hub', HF_HOME: '/h' })).toBe('/c/hub');
    expect(hubCacheDir({ HF_HOME: '/h', XDG_CACHE_HOME: '/x' })).toBe(path.join('/h', 'hub'));
    expect(hubCacheDir({ XDG_CACHE_HOME: '/x' })).toBe(path.join('/x', 'huggingface', 'hub'));
    expect(hubCacheDir({})).toBe(path.join(os.homedir(), '.cache', 'huggingface', 'hub'));
    expect(hubCacheDir({ HF_HOME: '~/hf' })).toBe(path.join(os.homedir(), 'hf', 'hub'));
  });
});
