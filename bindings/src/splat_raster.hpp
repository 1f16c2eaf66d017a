// Front-to-back compositing of projected Gaussian splats on the CPU: the image formation of
// training/render/rasterizer.py (its docstring states it; `render_reference` there is the plain
// loop version the tests hold this to). A build-time kernel of `vaf scene build`, not part of the
// engines' C ABI: vaf._native calls it directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vaf {

// A pinhole camera (runtime/cameras.py's PinholeCamera): x right, y down, looking down +z.
struct SplatCamera {
    double rotation[9];     // row-major world-to-camera rotation
    double translation[3];  // metres
    double fx, fy, cx, cy;  // px
    int width, height;      // px
};

// Which Gaussians are drawn and how wide: rasterizer.py's NEAR, LOW_PASS and MAX_RADIUS.
struct ProjectionLimits {
    double near;      // metres: Gaussians closer to the camera plane are skipped
    double low_pass;  // px^2 added to every projected covariance
    int max_radius;   // px: footprints are clipped to this
};

// The V Gaussians in front of the camera whose footprint touches the image.
struct Projected {
    std::vector<int64_t> index;   // (V,) in the cloud, ascending
    std::vector<double> mean;     // (V, 2) px
    std::vector<double> depth;    // (V,) metres
    std::vector<double> conic;    // (V, 3) a, b, c of the inverse 2D covariance
    std::vector<int32_t> radius;  // (V,) px, 3 sigma of the longer axis rounded up, at most max_radius
};

// EWA projection of N Gaussians: positions (N, 3) metres, rotations (N, 4) unit quaternions
// (w, x, y, z), scales (N, 3) standard deviations, metres; the same arithmetic as rasterizer.project.
// Gaussians whose projection is not finite are skipped.
Projected project(const float *positions, const float *rotations, const float *scales, size_t count,
                  const SplatCamera &camera, ProjectionLimits limits);

// V Gaussians as the camera sees them (what rasterizer.project returns). Preconditions, checked
// by the caller: every value finite, 0 <= radius <= 1024.
struct Footprints {
    size_t count;
    const double *mean;     // (V, 2) pixel coordinates of the centre, pixel centres at +0.5
    const double *conic;    // (V, 3) a, b, c of the inverse 2D covariance [[a, b], [b, c]], px^-2
    const int32_t *radius;  // (V,) half side of the square of candidate pixels, px
    const double *opacity;  // (V,)
};

// A composited image of P = width * height pixels and the R (pixel, Gaussian) pairs that made it.
struct Frame {
    std::vector<double> alpha;      // (P,) accumulated opacity
    std::vector<double> colour;     // (P, 3) sum of weight * rgb
    std::vector<double> depth_sum;  // (P,) sum of weight * depth, metres
    std::vector<int32_t> top;       // (P,) Gaussian of the largest weight (front-most on ties), -1 where none
    std::vector<int32_t> pixel;     // (R,) flat index y * width + x, ascending
    std::vector<int32_t> key;       // (R,) Gaussian id, within a pixel front to back
    std::vector<float> weight;      // (R,) alpha times the transmittance in front of it
};

// Limits on a pair's alpha: pairs under min_alpha are dropped, alpha is clamped to max_alpha.
struct AlphaLimits {
    double min_alpha, max_alpha;
};

// Every pixel of each Gaussian's square whose alpha = min(max_alpha, opacity exp(-d^T conic d / 2))
// is at least min_alpha, composited front to back by `depth` ((V,) metres; equal depths: the
// lower row first). rgb: (V, 3) the rows' colours; ids: (V,) each row's Gaussian id in the frame.
Frame splat(const Footprints &footprints, const double *depth, const float *rgb, const int32_t *ids, int width,
            int height, AlphaLimits limits);

// Pairs given in any order, composited front to back per pixel (equal depths: the earlier pair
// first). key: (R,) Gaussian ids < key_count; pixel: (R,) < width * height; alpha: (R,) (pairs
// under min_alpha dropped); depth: (key_count,) metres; rgb: (key_count, 3).
Frame composite(const int32_t *key, const int32_t *pixel, const double *alpha, size_t count, const double *depth,
                const float *rgb, int width, int height, double min_alpha);

}  // namespace vaf
