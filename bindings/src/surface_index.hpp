// Nearest-point queries over a scene's points: a static kd-tree built once per scene, queried
// per contact (where on the surface a contact landed) and per feature query at a hit point.
#pragma once

#include <cstddef>
#include <cmath>
#include <cstdint>
#include <vector>

#include "impact_synth.hpp"

namespace vaf {

// Checks that every coordinate of `count` (x, y, z) triples is finite; names the first bad one.
Error validate_points(const float *points, size_t count, const char *name);

class SurfaceIndex {
public:
    // points: count (x, y, z) triples; count >= 1, all finite (see validate_points).
    SurfaceIndex(const float *points, size_t count);
    // The k nearest points (1 <= k <= size()), nearest first: distances[k] and indices[k] in the
    // constructor's order. Points are ranked by (distance, index), so among equally near points
    // the lower index comes first and results do not depend on the tree.
    void nearest(const float query[3], size_t k, double *distances, uint32_t *indices) const;
    size_t size() const { return index_.size(); }

private:
    struct Candidate {
        double d2;
        uint32_t index;
        bool operator<(const Candidate &o) const { return d2 < o.d2 || (d2 == o.d2 && index < o.index); }
    };
    // The best candidates so far, sorted; `worst` bounds the search once `count` == `k`.
    struct Ranking {
        Candidate *best;
        size_t k, count;
        double worst() const { return count < k ? INFINITY : best[k - 1].d2; }
    };
    void build(size_t lo, size_t hi);
    void search(size_t lo, size_t hi, const double q[3], Ranking &ranking) const;
    void consider(size_t slot, const double q[3], Ranking &ranking) const;

    // Points reordered into tree order (slot i holds point index_[i]); the node over the slot
    // range [lo, hi) splits at slot (lo + hi) / 2 along axis_[that slot].
    std::vector<float> xyz_;
    std::vector<uint32_t> index_;
    std::vector<uint8_t> axis_;
};

}  // namespace vaf
