// A character-level "tokenizer" over a small alphabet and three GSM8K-format examples with calculator
// breakpoints: tiny float64 models for exact latent-forward tests.
import { parseGsm8kRecord, type Gsm8kExample } from '../../src/data/gsm8k';

export const ALPHABET = ' abcdefghijklmnopqrstuvwxyz0123456789+-*/=.,?:#\n$QA';
export const charTok = { encode: (s: string) => [...s].map((c) => Math.max(0, ALPHABET.indexOf(c))) };
export const BOT = ALPHABET.length;
export const EOT = ALPHABET.length + 1;
export const VOCAB = ALPHABET.length + 2;

export function example(question: string, answer: string): Gsm8kExample {
  return (parseGsm8kRecord(JSON.stringify({ question, answer }), 0) as { example: Gsm8kExample }).example;
}

export const EXAMPLES = [
  example('a has 3 b?', 'so 3*4=<<3*4=12>>12 c.\n#### 12'),
  example('x?', 'y 2+2=<<2+2=4>>4 and 4*5=<<4*5=20>>20 z.\n#### 20'),
  example('long question here?', 'ok 9-1=<<9-1=8>>8.\n#### 8'),
];
