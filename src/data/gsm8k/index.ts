/**
 * GSM8K: parsing, calculator breakpoints, loading, download, training text and answers.
 *
 * A GSM8K record is one JSON object per line: `{"question": ..., "answer": ...}`. The answer is a
 * worked solution whose arithmetic carries calculator annotations (`48/2 = <<48/2=24>>24 clips`)
 * and ends with a final line `#### 72`. Parsing removes every annotation and records a *breakpoint*
 * where it stood, i.e. just before the written result ({@link parseGsm8kAnswer}).
 */
export {
  parseGsm8kAnswer,
  type Breakpoint,
  type MalformedReason,
  type ParsedSolution,
  type AnswerParseResult,
} from './annotations';
export {
  parseGsm8kRecord,
  parseGsm8kJsonl,
  resolveGsm8kFile,
  loadGsm8k,
  malformedCountsByReason,
  formatLoadReport,
  GSM8K_SPLITS,
  type Gsm8kExample,
  type MalformedRecord,
  type LoadReport,
  type LoadResult,
  type Gsm8kSplit,
} from './load';
export { downloadGsm8k, GSM8K_BASE_URL, type DownloadOptions, type DownloadResult } from './download';
export {
  formatPrompt,
  formatSolution,
  formatTrainingText,
  toTrainingSegments,
  DEFAULT_TEXT_FORMAT,
  type TextFormat,
  type TrainingSegment,
} from './format';
export { extractAnswer, answersEqual, evaluateExpression, annotationIsConsistent, type AnswerExtractionMode } from './answers';
