// Child of cpu-cache.test.ts: allocation scenarios in a fresh process, so that the allocator's
// process-wide peak is the scenario's own and not that of earlier tests in the same jest worker.
import * as torch from '../../src/torch';

const MiB = 2 ** 20;
const scenario = process.argv[2];
torch.cpu.emptyCache();
if (scenario === 'eviction') {
  for (const mib of [5, 7, 9, 11, 13]) torch.scope(() => void torch.ones([(mib * MiB) / 4]));
  const afterSizes = torch.cpu.cacheStats().cachedBytes;
  const kept = torch.keep(torch.ones([(20 * MiB) / 4]));
  const withKept = torch.cpu.cacheStats().cachedBytes;
  kept.dispose();
  console.log(JSON.stringify({ afterSizes, withKept }));
} else if (scenario === 'recurring') {
  // A step of two temporaries, 8 MiB and then 2 MiB, one live at a time: keeping both needs 10 MiB
  // cached against a live peak of 8 MiB.
  const step = () => {
    torch.scope(() => void torch.ones([(8 * MiB) / 4]));
    torch.scope(() => void torch.ones([(2 * MiB) / 4]));
  };
  step();
  const first = torch.cpu.cacheStats();
  for (let i = 0; i < 5; i++) step();
  const last = torch.cpu.cacheStats();
  console.log(JSON.stringify({ missesAfterFirstStep: last.misses - first.misses, cachedBytes: last.cachedBytes }));
} else {
  throw new Error(`unknown scenario ${scenario}`);
}
