// float32 -> int16 PCM. Its own file because it is compiled without floating-point contraction
// (see CMakeLists.txt): the rounding below is exact only if no multiply-add is fused.
#include "pcm_format.hpp"

#include <algorithm>
#include <cstring>

namespace vaf {
namespace {

// rint(x) for |x| < 2^22 in the default rounding mode (nearest, ties to even): adding 1.5 * 2^23
// leaves no fraction bits, so the addition itself rounds. The product x = v * 32767 must be
// rounded on its own first, as numpy's rint(clip(v) * 32767) does.
constexpr float kRoundingShift = 12582912.0f;

}  // namespace

void to_s16(const float *in, int16_t *out, size_t n) {
    size_t i = 0;
#if defined(__GNUC__)
    // Vector types because the scalar loop does not vectorise (lrint is a libm call); 8 lanes are
    // one AVX register or two SSE2 ones.
    typedef float F8 __attribute__((vector_size(8 * sizeof(float))));
    typedef int32_t I8 __attribute__((vector_size(8 * sizeof(int32_t))));
    typedef int16_t S8 __attribute__((vector_size(8 * sizeof(int16_t))));
    const F8 low = F8{} - 1.0f, high = F8{} + 1.0f;
    for (; i + 8 <= n; i += 8) {
        F8 v;
        std::memcpy(&v, in + i, sizeof v);
        v = v < low ? low : v;
        v = v > high ? high : v;
        const F8 scaled = v * 32767.0f;
        const F8 rounded = (scaled + kRoundingShift) - kRoundingShift;
        const S8 s = __builtin_convertvector(__builtin_convertvector(rounded, I8), S8);
        std::memcpy(out + i, &s, sizeof s);
    }
#endif
    for (; i < n; ++i) {
        const float scaled = std::clamp(in[i], -1.0f, 1.0f) * 32767.0f;
        out[i] = int16_t(int32_t((scaled + kRoundingShift) - kRoundingShift));
    }
}

}  // namespace vaf
