export * from './sft';
export * from './sft-eval';
export * from './checkpoint';
export * from './run-dir';
export * from './progress';
