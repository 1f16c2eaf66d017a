// Nearest-point queries over a scene's surface samples: a static kd-tree built once per scene,
// queried once per contact (where on the surface a contact landed).
#pragma once

#include <cstddef>
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
    // Distance to the nearest point and that point's index in the constructor's order;
    // among equally near points the lowest index wins, so results do not depend on the tree.
    void nearest(const float query[3], double *distance, uint32_t *index) const;
    size_t size() const { return index_.size(); }

private:
    struct Best {
        double d2;
        uint32_t index;
    };
    void build(size_t lo, size_t hi);
    void search(size_t lo, size_t hi, const double q[3], Best &best) const;
    void consider(size_t slot, const double q[3], Best &best) const;

    // Points reordered into tree order (slot i holds point index_[i]); the node over the slot
    // range [lo, hi) splits at slot (lo + hi) / 2 along axis_[that slot].
    std::vector<float> xyz_;
    std::vector<uint32_t> index_;
    std::vector<uint8_t> axis_;
};

}  // namespace vaf
