// Child of cpu-cache.test.ts: the eviction scenario in a fresh process, so that the allocator's
// process-wide peak is this scenario's own and not that of earlier tests in the same jest worker.
import * as torch from '../../src/torch';

const MiB = 2 ** 20;
torch.cpu.emptyCache();
for (const mib of [5, 7, 9, 11, 13]) torch.scope(() => void torch.ones([(mib * MiB) / 4]));
const afterSizes = torch.cpu.cacheStats().cachedBytes;
const kept = torch.keep(torch.ones([(20 * MiB) / 4]));
const withKept = torch.cpu.cacheStats().cachedBytes;
kept.dispose();
console.log(JSON.stringify({ afterSizes, withKept }));
