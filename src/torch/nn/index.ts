// torch.nn
export { Module, ModuleList, type StateDict } from './module';
export { Parameter } from './parameter';
export { Linear, Embedding, RMSNorm, Dropout, rmsNorm, type FactoryOptions } from './layers';
export * as init from './init';
export * as functional from './functional';
export * as utils from '../optim/clip-grad';
