// Basic layers, numerically as torch.nn's.
import { Tensor } from '../tensor';
import * as ops from '../generated/ops';
import { Module } from './module';
import { Parameter } from './parameter';
import * as init from './init';
import { scope } from '../memory';
import type { DType, DeviceLike } from '../types';
import { ValueError } from '../errors';
import { checkDropoutProbability, dropout } from './functional';

export interface FactoryOptions {
  dtype?: DType;
  device?: DeviceLike;
  /**
   * Leave the parameters uninitialised (torch.nn.utils.skip_init): for models whose weights a
   * checkpoint or an initialiser fills at once, so construction draws nothing that is overwritten.
   */
  skipInit?: boolean;
}

export class Linear extends Module {
  weight: Parameter;
  bias: Parameter | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    { bias = true, dtype, device, skipInit = false }: FactoryOptions & { bias?: boolean } = {},
  ) {
    super();
    this.weight = scope(() => new Parameter(ops.empty([outFeatures, inFeatures], { dtype, device })));
    if (!skipInit) init.kaimingUniform_(this.weight);
    this.bias = null;
    if (bias) {
      this.bias = scope(() => new Parameter(ops.empty([outFeatures], { dtype, device })));
      const bound = inFeatures > 0 ? 1 / Math.sqrt(inFeatures) : 0;
      if (!skipInit) init.uniform_(this.bias, -bound, bound);
    }
  }
  forward(x: Tensor): Tensor {
    return ops.linear(x, this.weight, this.bias);
  }
  protected override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

export class Embedding extends Module {
  weight: Parameter;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    { paddingIdx, dtype, device, skipInit = false }: FactoryOptions & { paddingIdx?: number } = {},
  ) {
    super();
    this.paddingIdx = null;
    if (paddingIdx !== undefined) {
      if (!Number.isInteger(paddingIdx) || paddingIdx < -numEmbeddings || paddingIdx >= numEmbeddings)
        throw new ValueError(
          `Embedding: paddingIdx must be an integer in [-${numEmbeddings}, ${numEmbeddings}), got ${paddingIdx}`,
        );
      // Negative indices count from the end, as in PyTorch; ATen's embedding takes -1 to mean "none".
      this.paddingIdx = paddingIdx < 0 ? numEmbeddings + paddingIdx : paddingIdx;
    }
    this.weight = scope(() => new Parameter(ops.empty([numEmbeddings, embeddingDim], { dtype, device })));
    if (!skipInit) init.normal_(this.weight);
    if (this.paddingIdx !== null && !skipInit) scope(() => this.weight.select(0, this.paddingIdx!).detach().zero_());
  }
  readonly paddingIdx: number | null;
  forward(ids: Tensor): Tensor {
    return ops.embedding(this.weight, ids, this.paddingIdx ?? -1);
  }
  protected override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}`;
  }
}

/** Root-mean-square norm with a learned gain (no bias), computed in float32 as Hugging Face's Qwen2RMSNorm. */
export class RMSNorm extends Module {
  weight: Parameter;
  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
    { dtype, device }: FactoryOptions = {},
  ) {
    super();
    this.weight = scope(() => new Parameter(ops.ones([dim], { dtype, device })));
  }
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
  protected override extraRepr(): string {
    return `${this.dim}, eps=${this.eps}`;
  }
}

/** weight * (x / sqrt(mean(x^2) + eps)), with the normalisation in float32 and the result in x's dtype. */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  return scope(() => {
    const dtype = x.dtype;
    const xf = dtype === 'float32' || dtype === 'float64' ? x : x.to('float32');
    const variance = xf.pow(2).mean([-1], true);
    const normed = xf.mul(variance.add(eps).rsqrt());
    const back = normed.dtype === dtype ? normed : normed.to(dtype);
    return weight.mul(back);
  });
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    checkDropoutProbability(p);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}
