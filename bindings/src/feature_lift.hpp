// The closed-form feature lift's accumulation (training/features/lift.py): one rendered view's
// mask embeddings added to the running sums of the Gaussians it saw, weighted by each Gaussian's
// compositing weight at each pixel. A build-time kernel of `vaf scene build`, called by
// vaf._native; tests hold it to lift.py's formula written as loops.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vaf {

// A view's pairs (rasterizer Contributions) and, per level, the embedding row of each pixel's mask.
struct LiftView {
    size_t count;                  // R pairs
    const int32_t *pixel;          // (R,) flat pixel index < pixels
    const int32_t *gaussian;       // (R,) < the running sums' N
    const float *weight;           // (R,) compositing weight
    size_t levels, pixels, dim;    // L, P, D
    const int64_t *mask_of_pixel;  // (L, P) row of that level's embeddings, or -1 (no mask)
    const float *const *embedding;  // per level, (M_l, D); every mask_of_pixel row indexes its level's
};

// features: (N, L, D) and weight_sum: (N, L), N = gaussians, updated in place: for every pair and
// level whose pixel has a mask m, features[g, l] += w * embedding[l][m] and weight_sum[g, l] += w
// (a Gaussian's weights on one mask summed in double first).
void add_view(const LiftView &view, size_t gaussians, float *features, double *weight_sum);

}  // namespace vaf
