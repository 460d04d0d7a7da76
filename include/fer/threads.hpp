/// @file threads.hpp
/// @brief Process-wide compute settings: the thread count (LibTorch intra-op
/// and OpenCV) and the heap's retention of freed memory.
#pragma once

namespace fer {

/// The most compute threads libfer sets. LibTorch starts every thread of its
/// pool at once and waits for all of them, so an absurd count would hang the
/// process or exhaust it; libfer refuses it instead.
constexpr int kMaxThreads = 1024;

/// Sets the number of compute threads for LibTorch and OpenCV in this process.
/// n <= 0 means: $FER_NUM_THREADS if set, else all cores available (at most
/// kMaxThreads). n > kMaxThreads: Error(InvalidArgument), nothing changed.
/// (LibTorch defaults to 1 thread on some machines, hence this call.)
void set_num_threads(int n);

/// Threads in use for LibTorch's intra-op parallelism.
int num_threads();

/// What n <= 0 resolves to: $FER_NUM_THREADS or the cores available, at most kMaxThreads.
int default_num_threads();

/// Lets the C heap keep freed memory for reuse instead of handing it back to
/// the system after every inference (glibc: mallopt M_TRIM_THRESHOLD 256 MiB,
/// M_MMAP_THRESHOLD 32 MiB). Inference allocates and frees the same
/// activation buffers on every call; with glibc's defaults they are often
/// returned and faulted in again page by page, which made batched inference
/// here up to 40% slower, depending on the process's allocation history. The
/// cost: the process keeps up to its peak heap use (plus 256 MiB at most) mapped.
/// libfer calls this when the first model, extractor or detector is created;
/// it does nothing when $FER_HEAP_TUNING is 0, when the process set glibc's
/// own malloc variables ($MALLOC_TRIM_THRESHOLD_, $MALLOC_MMAP_THRESHOLD_,
/// $MALLOC_TOP_PAD_ or malloc entries in $GLIBC_TUNABLES), or without glibc.
/// Returns whether the settings are in effect. Thread-safe; applied once.
bool tune_heap();

}  // namespace fer
