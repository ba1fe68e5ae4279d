// Parameter: a leaf tensor owned by a Module. Parameters are never freed by scopes (they live as long
// as their module, until dispose()), so a training step can run inside torch.scope.
import { native as N } from '../native';
import { Tensor } from '../tensor';
import { keep } from '../memory';

export class Parameter extends Tensor {
  /**
   * Shares data's storage (like torch.nn.Parameter): a detached leaf, requiring grad unless told
   * otherwise. data itself stays usable and owned by the caller.
   */
  constructor(data: Tensor, requiresGrad = true) {
    super(N.f_detach(data._h));
    keep(this);
    if (requiresGrad) N.f_requires_grad_(this._h, true);
  }

  /** Replaces the underlying tensor, keeping this object's identity (module.to(), loading). */
  _replaceData(t: Tensor): void {
    const requiresGrad = this.requiresGrad;
    const h = N.f_detach(t._h);
    N.release(this._h);
    this._h = h;
    if (requiresGrad) N.f_requires_grad_(this._h, true);
  }
}
