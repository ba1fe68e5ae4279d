// Data: GSM8K (parsing, calculator breakpoints, loading, download, prompts and answers) and a
// generator of GSM8K-format arithmetic problems (the demo's embedded task).
export {
  parseGsm8kAnswer, parseGsm8kRecord, parseGsm8kJsonl, resolveGsm8kFile, loadGsm8k, malformedCountsByReason, formatLoadReport, downloadGsm8k,
  trainValidationSplit,
  formatPrompt, formatSolution, formatTrainingText, toTrainingSegments, extractAnswer, answersEqual, evaluateExpression, annotationIsConsistent,
  GSM8K_SPLITS, GSM8K_BASE_URL, DEFAULT_TEXT_FORMAT,
  type Breakpoint, type Gsm8kExample, type MalformedReason, type MalformedRecord, type LoadReport, type LoadResult, type Gsm8kSplit,
  type ParsedSolution, type AnswerParseResult, type DownloadOptions, type DownloadResult, type SplitOptions, type TextFormat,
  type TrainingSegment, type AnswerExtractionMode,
} from './gsm8k';
export { seededShuffle, mulberry32, deriveSeed, randomInt, randomChoice } from './random';
export {
  applyOperation, resolveArithDifficulty, generateArithProblem, generateArithProblems, toGsm8kJsonl, writeArithTask,
  ARITH_OPERATIONS, MAX_ARITH_STEPS, DEFAULT_ARITH_DIFFICULTY,
  type ArithOperation, type ArithDifficulty, type ArithStep, type ArithProblem, type ArithGenerationOptions, type WriteArithTaskOptions,
} from './arith-task';
