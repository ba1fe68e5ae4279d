// Child process of checkpoint.test.ts: trains a run of `version` steps, saves it to `dir`, and kills
// itself with SIGKILL when the save reaches phase `crashAt` (or finishes normally for 'none').
import { saveCheckpoint, type SavePhase } from '../../src/train/checkpoint';
import { SCHEDULE, makeRun } from './checkpoint-fixture';

const [dir, crashAt, version] = process.argv.slice(2);
const run = makeRun(Number(version));
saveCheckpoint(
  dir,
  run.step,
  { model: run.model, optimizer: run.optimizer, schedule: SCHEDULE, extra: { version: Number(version) } },
  {
    onPhase(phase: SavePhase) {
      if (phase === crashAt) process.kill(process.pid, 'SIGKILL');
    },
  },
);
process.stdout.write('saved\n');
