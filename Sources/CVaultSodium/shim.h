#ifndef CVAULT_SODIUM_SHIM_H
#define CVAULT_SODIUM_SHIM_H
// libsodium as one module. Swift code imports it with `internal import CVaultSodium`, so no
// libsodium type appears in this package's public API.
#include <sodium.h>
#endif
