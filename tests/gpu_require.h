// The GPU tests' guard: a test body starting with REQUIRE_GPU() reports SKIPPED, with the reason,
// where no CUDA device can be used (CI), and says how to run it on a GPU machine.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "qmsim/gpu/gpu.h"

#define REQUIRE_GPU()                                                                                        \
  do {                                                                                                       \
    std::string why_;                                                                                        \
    if (!::qmsim::gpu::device_available(&why_))                                                             \
      GTEST_SKIP() << "SKIPPED: no CUDA device (" << why_ << "); run tools/device-test.sh on a GPU machine"; \
  } while (0)
