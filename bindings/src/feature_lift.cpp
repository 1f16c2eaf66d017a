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
    std::vector<size_t> start(gaussians + 1, 0);
    for (size_t i = 0; i < v.count; ++i) ++start[size_t(v.gaussian[i]) + 1];
    std::partial_sum(start.begin(), start.end(), start.begin());
    std::vector<int32_t> pixel(v.count);
    std::vector<float> weight(v.count);
    {
        std::vector<size_t> cursor(start.begin(), start.end() - 1);
        for (size_t i = 0; i < v.count; ++i) {
            const size_t at = cursor[size_t(v.gaussian[i])]++;
            pixel[at] = v.pixel[i];
            weight[at] = v.weight[i];
        }
    }
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
