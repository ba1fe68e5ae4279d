// Gloo's collective algorithms: nothing of it is named by torch's ProcessGroupGloo.hpp (see README.md).
#pragma once
