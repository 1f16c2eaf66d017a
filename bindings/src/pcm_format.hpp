// PCM sample formats the synthesizer's output is delivered in.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vaf {

// Saturating float32 -> int16: out[i] = rint(clamp(in[i], -1, 1) * 32767), ties to even.
void to_s16(const float *in, int16_t *out, size_t n);

}  // namespace vaf
