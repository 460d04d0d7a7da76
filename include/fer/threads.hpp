/// @file threads.hpp
/// @brief Process-wide compute thread count (LibTorch intra-op and OpenCV).
#pragma once

namespace fer {

/// Sets the number of compute threads for LibTorch and OpenCV in this process.
/// n <= 0 means: $FER_NUM_THREADS if set, else all cores available.
/// (LibTorch defaults to 1 thread on some machines, hence this call.)
void set_num_threads(int n);

/// Threads in use for LibTorch's intra-op parallelism.
int num_threads();

/// What n <= 0 resolves to: $FER_NUM_THREADS or the cores available.
int default_num_threads();

}  // namespace fer
