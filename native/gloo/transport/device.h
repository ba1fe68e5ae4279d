// Gloo transport types as named by torch's ProcessGroupGloo.hpp (see ../README.md): only ever held by
// smart pointer there, so declarations suffice.
#pragma once

namespace gloo {
namespace transport {
class Device;
class UnboundBuffer;
}  // namespace transport
}  // namespace gloo
