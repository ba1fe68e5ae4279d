// (being written)
#include "../common.h"

namespace lt {
void register_latent_step(napi_env env, napi_value exports) {}
}  // namespace lt
