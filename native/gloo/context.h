// gloo::Context as named by torch's ProcessGroupGloo.hpp (see README.md): held by shared_ptr, and
// setTimeout called from an inline member the addon never uses. Declared only.
#pragma once

#include <chrono>

namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
}  // namespace gloo
