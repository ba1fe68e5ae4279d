// (being written)
#include "common.h"

namespace lt {
void register_optim(napi_env env, napi_value exports) {}
}  // namespace lt
