#include "feature_lift.hpp"

#include "parallel.hpp"

#include <numeric>
#include <utility>
#include <vector>

namespace vaf {

void add_view(const LiftView &v, size_t gaussians, float *features, double *weight_sum) {
    const size_t workers = worker_count();
    // The pairs come grouped by pixel, a Gaussian's scattered over the image: regrouped by Gaussian (a
    // counting sort), each Gaussian's row of the (N, L, D) sums is read and written once, not once per pair.
    // Each worker counts and then places a chunk of the pairs; chunk by chunk, a Gaussian's pairs keep their order.
    std::vector<std::vector<uint32_t>> place(workers, std::vector<uint32_t>(gaussians, 0));
    auto chunk = [&](size_t t) { return std::pair(v.count * t / workers, v.count * (t + 1) / workers); };
    run_parallel(workers, [&](size_t t) {
        for (auto [i, end] = chunk(t); i < end; ++i) ++place[t][size_t(v.gaussian[i])];
    });
    std::vector<size_t> start(gaussians + 1, 0);
    for (size_t g = 0; g < gaussians; ++g) {
        size_t at = start[g];
        for (auto &p : place) at += std::exchange(p[g], uint32_t(at - start[g]));  // counts become offsets
        start[g + 1] = at;
    }
    std::vector<int32_t> pixel(v.count);
    std::vector<float> weight(v.count);
    run_parallel(workers, [&](size_t t) {
        for (auto [i, end] = chunk(t); i < end; ++i) {
            const size_t g = size_t(v.gaussian[i]), at = start[g] + place[t][g]++;
            pixel[at] = v.pixel[i];
            weight[at] = v.weight[i];
        }
    });
    place.clear();
    // A Gaussian covers few masks: its weight per mask is summed first, then each mask's embedding added once.
    // Workers take ranges of Gaussians holding about equal numbers of pairs.
    const std::vector<size_t> cut = balanced_cuts(start, workers);
    run_parallel(workers, [&](size_t t) {
        std::vector<std::pair<int64_t, double>> per_mask;
        for (size_t g = cut[t]; g < cut[t + 1]; ++g) {
            if (start[g] == start[g + 1]) continue;
            for (size_t level = 0; level < v.levels; ++level) {
                const int64_t *mask = v.mask_of_pixel + level * v.pixels;
                per_mask.clear();
                for (size_t j = start[g]; j < start[g + 1]; ++j) {
                    const int64_t m = mask[pixel[j]];
                    if (m < 0) continue;
                    size_t k = 0;
                    while (k < per_mask.size() && per_mask[k].first != m) ++k;
                    if (k == per_mask.size()) per_mask.emplace_back(m, 0.0);
                    per_mask[k].second += weight[j];
                }
                float *f = features + (g * v.levels + level) * v.dim;
                for (const auto &[m, w] : per_mask) {
                    const float *e = v.embedding[level] + size_t(m) * v.dim;
                    const float wf = float(w);
                    for (size_t d = 0; d < v.dim; ++d) f[d] += wf * e[d];
                    weight_sum[g * v.levels + level] += w;
                }
            }
        }
    });
}

}  // namespace vaf
