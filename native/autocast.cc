// (being written)
#include "common.h"

namespace lt {
void register_autocast(napi_env env, napi_value exports) {}
}  // namespace lt
