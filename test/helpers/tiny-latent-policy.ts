// A tiny random latent policy (float64 by default) whose classifiers open spans and stop them about
// half the time: the fixture of the decoding loop's and the rollouts' tests.
import * as torch from '../../src/torch';
import { randomQwen2 } from './random-qwen2';
import { LatentHeads, type LatentHeadsOptions } from '../../src/latent/heads';
import type { LatentInputKind } from '../../src/latent/latent-input';
import { LatentDecoder, qwen2Backbone } from '../../src/latent/qwen2-trunks';
import type { Coupling } from '../../src/latent/coupling';
import type { PolicyModules } from '../../src/rl/policy';

export const VOCAB = 24;
export const BOT = 22;
export const EOT = 23;
export const EOS = 0;
export const D = 16;

export interface TinyPolicyOptions {
  input?: LatentInputKind;
  coupling?: Coupling;
}

/** Latent heads of width `hidden` with random `<bot>`/`<eot>` rows at scale 1.3. */
export function randomLatentHeads(
  hidden: number,
  dtype: torch.DType,
  o: Pick<LatentHeadsOptions, 'input' | 'excludeIds'> = {},
): LatentHeads {
  return torch.scope(() => new LatentHeads({ hidden, markerInit: torch.randn([2, hidden], { dtype }), scale: 1.3, dtype, ...o }));
}

/** Sets the start/stop classifiers far from zero, so that spans open and stop in rollouts (call under noGrad). */
export function openingClassifiers(heads: LatentHeads): void {
  torch.scope(() => {
    heads.startWeight.copy_(torch.randnLike(heads.startWeight).mul(0.3));
    heads.startBias.fill_(-0.3);
    heads.stopWeight.copy_(torch.randnLike(heads.stopWeight).mul(0.3));
    heads.stopBias.fill_(-0.5);
  });
}

/** A tiny policy; two-trunk: a perturbed copy of the decoder runs latent positions. */
export function tinyLatentPolicy(twoTrunk: boolean, dtype: torch.DType = 'float64', o: TinyPolicyOptions = {}) {
  torch.manualSeed(11);
  const model = randomQwen2(VOCAB, D, dtype);
  const input = o.input ?? 'affine';
  const heads = randomLatentHeads(D, dtype, {
    input,
    excludeIds: input === 'gated' || input === 'soft' ? [BOT, EOT] : undefined,
  });
  torch.noGrad(() =>
    torch.scope(() => {
      if (input === 'affine') {
        heads.gain.copy_(torch.randnLike(heads.gain).mul(0.2).add(1));
        heads.bias.copy_(torch.randnLike(heads.bias).mul(0.2));
      }
      openingClassifiers(heads);
    }),
  );
  const backbone = qwen2Backbone(model);
  let decoder: LatentDecoder | null = null;
  if (twoTrunk) {
    decoder = LatentDecoder.copyOf(model);
    torch.noGrad(() => decoder!.parameters().forEach((p) => torch.scope(() => p.add_(torch.randnLike(p).mul(0.1)))));
  }
  const m: PolicyModules = {
    backbone,
    latentTrunk: decoder ?? backbone,
    heads,
    botId: BOT,
    eotId: EOT,
    startLogitOffset: 0.2,
    ...(o.coupling ? { coupling: o.coupling } : {}),
  };
  const params = [...model.parameters(), ...heads.parameters(), ...(decoder?.parameters() ?? [])];
  const dispose = () => (model.dispose(), heads.dispose(), decoder?.dispose());
  return { m, model, heads, decoder, params, dispose };
}
