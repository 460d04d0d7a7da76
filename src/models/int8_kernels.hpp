// Elementwise uint8 kernels of the int8 path that LibTorch 1.13 runs as slow
// loops (measured on the int8 ResNet-18 at batch 32, one thread: its
// quantized::add_relu took 11% of the forward pass, quantize_per_tensor and
// dequantize + mean another 2%, at 1.4-3 ns per element; dequantizing
// ssd_mobilenet's feature maps took 1.2 ms a frame). These run at
// memory speed: AVX-512 where the CPU has it (checked at run time), plain
// loops otherwise, split over LibTorch's intra-op threads by the callers.
//
// Rounding is to nearest, ties to even, as LibTorch's quantizer does; results
// may differ from LibTorch's by one quantization step where the float
// arithmetic differs in the last bit.
#pragma once

#include <cstdint>

namespace fer::detail::int8_kernels {

/// out[i] = clamp(round(a[i] * ka + b[i] * kb + c), lo, 255): the sum of two
/// affine uint8 tensors requantized (ka = scale_a / scale_out, kb likewise,
/// c = zero_out - zero_a * ka - zero_b * kb), with a ReLU when lo = zero_out.
void add_requantize(const uint8_t* a, const uint8_t* b, uint8_t* out, int64_t n, float ka, float kb, float c,
                    int32_t lo);

/// out[i] = clamp(round(x[i] * inv_scale) + zero_point, 0, 255).
void quantize(const float* x, uint8_t* out, int64_t n, float inv_scale, int32_t zero_point);

/// out[i] = (q[i] - zero_point) * scale.
void dequantize(const uint8_t* q, float* out, int64_t n, float scale, int32_t zero_point);

/// Whether the AVX-512 versions run on this CPU.
bool uses_avx512();

/// The plain loops the above fall back to (for tests against the AVX-512 versions).
void add_requantize_portable(const uint8_t* a, const uint8_t* b, uint8_t* out, int64_t n, float ka, float kb,
                             float c, int32_t lo);
void quantize_portable(const float* x, uint8_t* out, int64_t n, float inv_scale, int32_t zero_point);
void dequantize_portable(const uint8_t* q, float* out, int64_t n, float scale, int32_t zero_point);

}  // namespace fer::detail::int8_kernels
