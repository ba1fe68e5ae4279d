// Byte-level symbols (GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 and
// up), and the readable rendering of a byte-level token (its UTF-8 text, undecodable bytes as <0xNN>).

/** The 256 byte-level symbols, indexed by byte value (e.g. `BYTE_LEVEL_ALPHABET[32]` is `Ġ`, the space). */
export const BYTE_LEVEL_ALPHABET: readonly string[] = (() => {
  const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const symbols: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) symbols.push(String.fromCharCode(printable(b) ? b : next++));
  return symbols;
})();
const UNICODE_TO_BYTE = new Map(BYTE_LEVEL_ALPHABET.map((symbol, byte) => [symbol, byte]));

/** The bytes a byte-level token stands for, or undefined when it holds a non-byte-level character. */
export function byteLevelToBytes(token: string): Uint8Array | undefined {
  const bytes = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const byte = UNICODE_TO_BYTE.get(token[i]);
    if (byte === undefined) return undefined;
    bytes[i] = byte;
  }
  return bytes;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Length of the valid UTF-8 sequence starting at `bytes[start]`, or 0 if none starts there. */
function utf8SequenceLength(bytes: Uint8Array, start: number): number {
  const lead = bytes[start];
  if (lead < 0x80) return 1;
  let length: number;
  let secondMin = 0x80;
  let secondMax = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) length = 2;
  else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead === 0xe0) secondMin = 0xa0; // overlong
    if (lead === 0xed) secondMax = 0x9f; // surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead === 0xf0) secondMin = 0x90; // overlong
    if (lead === 0xf4) secondMax = 0x8f; // above U+10FFFF
  } else return 0;
  if (start + length > bytes.length) return 0;
  for (let i = 1; i < length; i++) {
    const byte = bytes[start + i];
    const [min, max] = i === 1 ? [secondMin, secondMax] : [0x80, 0xbf];
    if (byte < min || byte > max) return 0;
  }
  return length;
}

/** A token's bytes as text: valid UTF-8 sequences decoded, every other byte as `<0xNN>`. */
export function renderBytesReadably(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length;) {
    const length = utf8SequenceLength(bytes, i);
    if (length === 0) {
      text += `<0x${bytes[i].toString(16).toUpperCase().padStart(2, '0')}>`;
      i++;
    } else {
      text += utf8Decoder.decode(bytes.subarray(i, i + length));
      i += length;
    }
  }
  return text;
}
