// torch.optim: optimizers (AdamW, SGD over libtorch's torch::optim), learning-rate schedules and
// gradient clipping.
export {
  Optimizer,
  ParamGroup,
  AdamW,
  SGD,
  ADAMW_DEFAULTS,
  SGD_DEFAULTS,
  type BaseOptions,
  type AdamWOptions,
  type SGDOptions,
  type ParamGroupSpec,
  type Params,
  type OptimizerName,
  type OptimizerStateDict,
  type SavedParamGroup,
} from './optimizer';
export { clipGradNorm_, type ClipGradNormOptions } from './clip-grad';
export {
  warmupDecay,
  warmupCosine,
  warmupLinear,
  constantLr,
  scheduleFromConfig,
  setLr,
  applyLrSchedule,
  type LrSchedule,
  type ScheduleConfig,
  type WarmupDecayOptions,
  type DecayShape,
} from './schedule';
