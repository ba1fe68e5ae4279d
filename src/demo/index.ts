// `latent demo` as a library: the pipeline, its sizes, and the parts it is made of.
export * from './run';
export * from './presets';
export * from './stages';
export * from './tokenizer';
export * from './export';
export * from './phase2';
