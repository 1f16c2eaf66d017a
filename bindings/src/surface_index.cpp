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

SurfaceIndex::SurfaceIndex(const float *points, size_t count)
    : xyz_(points, points + 3 * count), index_(count), axis_(count, 0) {
    std::iota(index_.begin(), index_.end(), 0u);
    // The tree is built over the original indices; the points are gathered into tree order afterwards.
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

void SurfaceIndex::consider(size_t slot, const double q[3], Ranking &ranking) const {
    const float *p = &xyz_[3 * slot];
    const double dx = q[0] - p[0], dy = q[1] - p[1], dz = q[2] - p[2];
    const Candidate c{dx * dx + dy * dy + dz * dz, index_[slot]};
    if (ranking.count == ranking.k && !(c < ranking.best[ranking.k - 1])) return;
    // Insertion into the sorted list: k is small (a contact wants 1, a feature query 8).
    size_t at = ranking.count < ranking.k ? ranking.count++ : ranking.k - 1;
    for (; at > 0 && c < ranking.best[at - 1]; --at) ranking.best[at] = ranking.best[at - 1];
    ranking.best[at] = c;
}

void SurfaceIndex::search(size_t lo, size_t hi, const double q[3], Ranking &ranking) const {
    if (hi - lo <= kLeaf) {
        for (size_t s = lo; s < hi; ++s) consider(s, q, ranking);
        return;
    }
    const size_t mid = (lo + hi) / 2;
    const double gap = q[axis_[mid]] - xyz_[3 * mid + axis_[mid]];
    consider(mid, q, ranking);
    // Every point on the far side is at least |gap| away along the split axis; equal distances
    // are still visited so the lower index wins a tie.
    if (gap < 0) {
        search(lo, mid, q, ranking);
        if (gap * gap <= ranking.worst()) search(mid + 1, hi, q, ranking);
    } else {
        search(mid + 1, hi, q, ranking);
        if (gap * gap <= ranking.worst()) search(lo, mid, q, ranking);
    }
}

void SurfaceIndex::nearest(const float query[3], size_t k, double *distances, uint32_t *indices) const {
    const double q[3] = {query[0], query[1], query[2]};
    // Up to 16 neighbours on the stack: a contact's or a feature query allocates nothing.
    Candidate local[16];
    std::vector<Candidate> more(k > 16 ? k : 0);
    Ranking ranking{k > 16 ? more.data() : local, k, 0};
    search(0, index_.size(), q, ranking);
    for (size_t j = 0; j < k; ++j) {
        distances[j] = std::sqrt(ranking.best[j].d2);
        indices[j] = ranking.best[j].index;
    }
}

}  // namespace vaf
