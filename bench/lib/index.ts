// The benchmark harness: see bench/README.md ("Writing a benchmark").
export { runSuite, type BenchCase, type Suite } from './suite';
export { measure, iterationsPerSample, type Measurement, type TimingOptions } from './timing';
export { summarize, median, quantileSorted, type Summary } from './stats';
export { pythonCounterpart, cppCounterpart, buildCppTarget, type Counterpart } from './counterparts';
export { formatDuration, formatRatio, formatTable, type Goal, type ResultRow, type SuiteResult } from './report';
export { findPython, readTorchEnv, ROOT } from './paths';
export { UsageError } from './options';
