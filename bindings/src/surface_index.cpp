#include "surface_index.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

namespace vaf {

namespace {

// Ranges this small are scanned point by point rather than split further.
constexpr size_t kLeaf = 8;

}  // namespace

Error validate_points(const float *points, size_t count, const char *name) {
    for (size_t i = 0; i < 3 * count; ++i)
        if (!std::isfinite(points[i]))
            return {VAF_ERROR_NOT_FINITE,
                    std::string(name) + "[" + std::to_string(i / 3) + "][" + std::to_string(i % 3) + "] is not finite"};
    return {};
}

SurfaceIndex::SurfaceIndex(const float *points, size_t count) : xyz_(3 * count), index_(count), axis_(count, 0) {
    std::iota(index_.begin(), index_.end(), 0u);
    // Split by original index first; the points are gathered into tree order afterwards.
    std::vector<float> source(points, points + 3 * count);
    xyz_.swap(source);
    build(0, count);
    std::vector<float> ordered(3 * count);
    for (size_t slot = 0; slot < count; ++slot)
        std::copy_n(&xyz_[3 * size_t(index_[slot])], 3, &ordered[3 * slot]);
    xyz_.swap(ordered);
}

void SurfaceIndex::build(size_t lo, size_t hi) {
    if (hi - lo <= kLeaf) return;
    // Split along the axis of largest extent, at the median.
    float low[3] = {INFINITY, INFINITY, INFINITY}, high[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t s = lo; s < hi; ++s)
        for (int a = 0; a < 3; ++a) {
            const float v = xyz_[3 * size_t(index_[s]) + a];
            low[a] = std::min(low[a], v);
            high[a] = std::max(high[a], v);
        }
    uint8_t axis = 0;
    for (uint8_t a = 1; a < 3; ++a)
        if (high[a] - low[a] > high[axis] - low[axis]) axis = a;
    const size_t mid = (lo + hi) / 2;
    std::nth_element(index_.begin() + lo, index_.begin() + mid, index_.begin() + hi, [&](uint32_t i, uint32_t j) {
        return xyz_[3 * size_t(i) + axis] < xyz_[3 * size_t(j) + axis];
    });
    axis_[mid] = axis;
    build(lo, mid);
    build(mid + 1, hi);
}

void SurfaceIndex::consider(size_t slot, const double q[3], Best &best) const {
    const float *p = &xyz_[3 * slot];
    const double dx = q[0] - p[0], dy = q[1] - p[1], dz = q[2] - p[2];
    const double d2 = dx * dx + dy * dy + dz * dz;
    if (d2 < best.d2 || (d2 == best.d2 && index_[slot] < best.index)) best = {d2, index_[slot]};
}

void SurfaceIndex::search(size_t lo, size_t hi, const double q[3], Best &best) const {
    if (hi - lo <= kLeaf) {
        for (size_t s = lo; s < hi; ++s) consider(s, q, best);
        return;
    }
    const size_t mid = (lo + hi) / 2;
    const double gap = q[axis_[mid]] - xyz_[3 * mid + axis_[mid]];
    consider(mid, q, best);
    // Every point on the far side is at least |gap| away along the split axis; equal distances
    // are still visited so the lowest index wins a tie.
    if (gap < 0) {
        search(lo, mid, q, best);
        if (gap * gap <= best.d2) search(mid + 1, hi, q, best);
    } else {
        search(mid + 1, hi, q, best);
        if (gap * gap <= best.d2) search(lo, mid, q, best);
    }
}

void SurfaceIndex::nearest(const float query[3], double *distance, uint32_t *index) const {
    const double q[3] = {query[0], query[1], query[2]};
    Best best{INFINITY, UINT32_MAX};
    search(0, index_.size(), q, best);
    *distance = std::sqrt(best.d2);
    *index = best.index;
}

}  // namespace vaf
