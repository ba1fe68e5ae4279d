// The frozen reference policy of the KL penalty: a copy of the phase-1 policy taken before RL updates.
//
// Full mode copies everything the policy trains (the whole model and the heads). Two-trunk mode
// never updates the language trunk, so the reference shares it with the policy and copies only the
// latent decoder and the heads.
import * as torch from '../torch';
import type { Module } from '../torch/nn';
import { Qwen2ForCausalLM } from '../models/qwen2/modeling';
import { LatentHeads } from '../latent/heads';
import { LatentDecoder, qwen2Backbone } from '../latent/qwen2-trunks';
import type { LatentModel } from '../latent/model';
import type { PolicyModules } from './policy';

export interface ReferencePolicy {
  modules: PolicyModules;
  /** frees the copies (not what is shared with the policy) */
  dispose(): void;
}

function frozenCopy<M extends Module>(copy: M, source: Module): M {
  copy.loadStateDict(source.stateDict());
  copy.freeze();
  copy.train(false);
  return copy;
}

/** A frozen copy of `lm`'s current policy. */
export function frozenReference(lm: LatentModel, startLogitOffset: number): ReferencePolicy {
  const owned: Module[] = [];
  return torch.noGrad(() => {
    const model = lm.model;
    const placement = { dtype: model.dtype, device: model.device };
    const heads = frozenCopy(LatentHeads.like(lm.heads), lm.heads);
    heads.startThreshold = lm.heads.startThreshold;
    owned.push(heads);
    let modules: PolicyModules;
    if (lm.latentDecoder) {
      const decoder = frozenCopy(new LatentDecoder(model.config, model.model.rotary_emb, placement), lm.latentDecoder);
      owned.push(decoder);
      modules = {
        backbone: lm.backbone,
        latentTrunk: decoder,
        heads,
        botId: lm.botId,
        eotId: lm.eotId,
        startLogitOffset,
        coupling: lm.coupling,
      };
    } else {
      const copy = frozenCopy(new Qwen2ForCausalLM(model.config, placement), model);
      owned.push(copy);
      const backbone = qwen2Backbone(copy);
      modules = { backbone, latentTrunk: backbone, heads, botId: lm.botId, eotId: lm.eotId, startLogitOffset };
    }
    return {
      modules,
      dispose: () => {
        for (const m of owned) m.dispose();
      },
    };
  });
}
