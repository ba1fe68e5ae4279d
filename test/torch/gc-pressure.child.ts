// Child of memory.test.ts: counts V8's full collections while tensors pass through scopes
// ('scoped') or are forgotten outside every scope ('forgotten'), in a fresh process whose heap and
// external-memory limits are this scenario's own.
import { PerformanceObserver, constants } from 'perf_hooks';
import * as torch from '../../src/torch';

const MiB = 2 ** 20;
const scenario = process.argv[2];
let major = 0;
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
});
observer.observe({ entryTypes: ['gc'] });
const tick = () => new Promise((r) => setImmediate(r));

void (async () => {
  const liveBefore = torch.liveTensors().length;
  for (let i = 0; i < 100; i++) {
    if (scenario === 'scoped') torch.scope(() => void [0, 1, 2, 3].map(() => torch.empty([(64 * MiB) / 4])));
    else if (scenario === 'forgotten') torch.empty([(64 * MiB) / 4]);
    else throw new Error(`unknown scenario ${scenario}`);
    await tick(); // as a training loop yields between steps
  }
  await new Promise((r) => setTimeout(r, 50)); // the observer's entries arrive asynchronously
  observer.disconnect();
  console.log(JSON.stringify({ major, leftLive: torch.liveTensors().length - liveBefore }));
})();
