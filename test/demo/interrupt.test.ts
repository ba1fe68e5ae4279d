// `latent demo` interrupted by Ctrl-C: the running stage saves its checkpoint and the command exits 130.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import yargs from 'yargs';
import { command as demoCommand } from '../../src/cli/commands/demo';
import { interruptOnceListening } from '../helpers/interrupt';

test('Ctrl-C during the demo exits 130', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-demo-interrupt-'));
  const out = path.join(root, 'demo');
  const stopWatching = interruptOnceListening();
  const quiet = [
    jest.spyOn(console, 'log').mockImplementation(() => undefined),
    jest.spyOn(console, 'error').mockImplementation(() => undefined),
    jest.spyOn(process.stderr, 'write').mockImplementation(() => true),
  ];
  try {
    await yargs(['demo', '--tiny', '--out', out, '--tokenizer', 'bpe']).command(demoCommand).strict().fail(false).parseAsync();
    expect(process.exitCode).toBe(130);
    expect(fs.readdirSync(path.join(out, 'runs', 'pretrain', 'checkpoints')).length).toBe(1);
  } finally {
    stopWatching();
    process.exitCode = 0;
    for (const s of quiet) s.mockRestore();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
