export * from './sequence';
export * from './forward';
export * from './heads';
export * from './model';
export * from './qwen2-trunks';
export * from './generate';
export * from './evaluate';
export * from './diagnostics';
export { latentStep, latentStepReference, type LatentStepOutput } from './latent-step';
