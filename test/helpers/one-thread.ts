// Import first in test files that use the tensor library. Jest runs one worker per core here, and
// libtorch's default of one intra-op thread per core in each worker oversubscribes the cores: tiny
// operators get ~10x slower (OpenMP threads spin for each other) and OpenMP's teardown at process exit
// outlasts jest's grace period ("A worker process has failed to exit gracefully").
import { setNumThreads } from '../../src/torch';

setNumThreads(1);
