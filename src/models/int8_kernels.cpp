#include "models/int8_kernels.hpp"

#include <cmath>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FER_INT8_AVX512 1
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 reports its own _mm512_undefined_* placeholders in immintrin.h as uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

namespace fer::detail::int8_kernels {

namespace {

// Rounds to nearest (ties to even, the default floating-point mode) and
// clamps to [lo, 255]; NaN gives lo.
inline uint8_t saturate(float y, int32_t lo) {
  float r = std::nearbyint(y);
  if (!(r > float(lo))) return uint8_t(lo);
  return r >= 255.f ? uint8_t(255) : uint8_t(int32_t(r));
}

}  // namespace

void add_requantize_portable(const uint8_t* a, const uint8_t* b, uint8_t* out, int64_t n, float ka, float kb,
                             float c, int32_t lo) {
  for (int64_t i = 0; i < n; ++i) out[i] = saturate(float(a[i]) * ka + (float(b[i]) * kb + c), lo);
}

void quantize_portable(const float* x, uint8_t* out, int64_t n, float inv_scale, int32_t zero_point) {
  for (int64_t i = 0; i < n; ++i) {
    // Clamped before the conversion, so that huge values and infinities saturate.
    float r = std::nearbyint(std::fmin(std::fmax(x[i] * inv_scale, -512.f), 512.f));
    out[i] = saturate(r + float(zero_point), 0);
  }
}

void dequantize_portable(const uint8_t* q, float* out, int64_t n, float scale, int32_t zero_point) {
  for (int64_t i = 0; i < n; ++i) out[i] = float(int32_t(q[i]) - zero_point) * scale;
}

namespace {

#ifdef FER_INT8_AVX512
constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

__attribute__((target("avx512f"))) inline __m512 load16(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

__attribute__((target("avx512f"))) inline void store16(uint8_t* p, __m512i q, __m512i lo, __m512i hi) {
  q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(q));
}

__attribute__((target("avx512f"))) void add_requantize_avx512(const uint8_t* a, const uint8_t* b, uint8_t* out,
                                                               int64_t n, float ka, float kb, float c, int32_t lo) {
  const __m512 vka = _mm512_set1_ps(ka), vkb = _mm512_set1_ps(kb), vc = _mm512_set1_ps(c);
  const __m512 vlo_f = _mm512_set1_ps(float(lo)), vhi_f = _mm512_set1_ps(255.f);
  const __m512i vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(255);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 y = _mm512_fmadd_ps(load16(a + i), vka, _mm512_fmadd_ps(load16(b + i), vkb, vc));
    // Clamped in float first, as the portable loop saturates: a value past int32 saturates to 255 there too.
    y = _mm512_min_ps(_mm512_max_ps(y, vlo_f), vhi_f);
    store16(out + i, _mm512_cvt_roundps_epi32(y, kRound), vlo, vhi);
  }
  add_requantize_portable(a + i, b + i, out + i, n - i, ka, kb, c, lo);
}

__attribute__((target("avx512f"))) void quantize_avx512(const float* x, uint8_t* out, int64_t n, float inv_scale,
                                                         int32_t zero_point) {
  const __m512 vinv = _mm512_set1_ps(inv_scale), vmin = _mm512_set1_ps(-512.f), vmax = _mm512_set1_ps(512.f);
  const __m512i vzero = _mm512_set1_epi32(zero_point), vlo = _mm512_setzero_si512(), vhi = _mm512_set1_epi32(255);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    // max_ps returns its second operand for NaN: NaN becomes -512, then 0.
    __m512 y = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), vinv), vmin), vmax);
    store16(out + i, _mm512_add_epi32(_mm512_cvt_roundps_epi32(y, kRound), vzero), vlo, vhi);
  }
  quantize_portable(x + i, out + i, n - i, inv_scale, zero_point);
}

__attribute__((target("avx512f"))) void dequantize_avx512(const uint8_t* q, float* out, int64_t n, float scale,
                                                           int32_t zero_point) {
  const __m512 vscale = _mm512_set1_ps(scale), vzero = _mm512_set1_ps(float(zero_point));
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_sub_ps(load16(q + i), vzero), vscale));
  dequantize_portable(q + i, out + i, n - i, scale, zero_point);
}
#endif

}  // namespace

bool uses_avx512() {
#ifdef FER_INT8_AVX512
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
#else
  return false;
#endif
}

void add_requantize(const uint8_t* a, const uint8_t* b, uint8_t* out, int64_t n, float ka, float kb, float c,
                    int32_t lo) {
#ifdef FER_INT8_AVX512
  if (uses_avx512()) return add_requantize_avx512(a, b, out, n, ka, kb, c, lo);
#endif
  add_requantize_portable(a, b, out, n, ka, kb, c, lo);
}

void quantize(const float* x, uint8_t* out, int64_t n, float inv_scale, int32_t zero_point) {
#ifdef FER_INT8_AVX512
  if (uses_avx512()) return quantize_avx512(x, out, n, inv_scale, zero_point);
#endif
  quantize_portable(x, out, n, inv_scale, zero_point);
}

void dequantize(const uint8_t* q, float* out, int64_t n, float scale, int32_t zero_point) {
#ifdef FER_INT8_AVX512
  if (uses_avx512()) return dequantize_avx512(q, out, n, scale, zero_point);
#endif
  dequantize_portable(q, out, n, scale, zero_point);
}

}  // namespace fer::detail::int8_kernels
