// Gloo's exception types: nothing of it is named by torch's ProcessGroupGloo.hpp (see ../README.md).
// Gloo's exceptions derive from std::runtime_error; the addon catches them as std::exception.
#pragma once
