export * from './gsm8k';
export * from './arith-task';
