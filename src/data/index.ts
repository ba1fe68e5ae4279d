// Data: GSM8K (parsing, calculator breakpoints, loading, download, prompts and answers) and a
// generator of GSM8K-format arithmetic problems (the demo's embedded task).
export * from './gsm8k';
export { trainValidationSplit, type SplitOptions } from './split';
export { seededShuffle, mulberry32, deriveSeed, randomInt, randomChoice } from './random';
export {
  applyOperation,
  resolveArithDifficulty,
  generateArithProblem,
  generateArithProblems,
  toGsm8kJsonl,
  writeArithTask,
  ARITH_OPERATIONS,
  MAX_ARITH_STEPS,
  DEFAULT_ARITH_DIFFICULTY,
  type ArithOperation,
  type ArithDifficulty,
  type ArithStep,
  type ArithProblem,
  type ArithGenerationOptions,
  type WriteArithTaskOptions,
} from './arith-task';
