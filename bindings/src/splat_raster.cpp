#include "splat_raster.hpp"

#include "parallel.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <numeric>

namespace vaf {
namespace {

// Pairs bucketed by pixel: pixel p's are [start[p], start[p + 1]), front to back.
struct Buckets {
    std::vector<size_t> start;
    std::vector<int32_t> key;
    std::vector<double> alpha;
};

// Exclusive prefix sum of per-pixel counts: bucket starts, and the cursors to fill them with.
Buckets open_buckets(const std::vector<size_t> &count) {
    Buckets b;
    b.start.assign(count.size() + 1, 0);
    std::partial_sum(count.begin(), count.end(), b.start.begin() + 1);
    b.key.resize(b.start.back());
    b.alpha.resize(b.start.back());
    return b;
}

// Calls visit(pixel, alpha) for every pixel of footprint `row`'s square in image rows [first, end)
// that the Gaussian covers with at least min_alpha.
template <typename Visit>
void for_each_pixel(const Footprints &f, size_t row, int width, int first, int end, AlphaLimits limits, Visit visit) {
    const double mx = f.mean[2 * row], my = f.mean[2 * row + 1];
    const double a = f.conic[3 * row], b = f.conic[3 * row + 1], c = f.conic[3 * row + 2];
    const double opacity = f.opacity[row];
    const double log_min = std::log(limits.min_alpha);
    const int r = f.radius[row];
    // The square's bounds clamped in floating point first: a centre far off screen must not overflow an int.
    const double cx = std::floor(mx), cy = std::floor(my);
    const int x0 = int(std::clamp(cx - r, 0.0, double(width))), x1 = int(std::clamp(cx + r, -1.0, width - 1.0));
    const int y0 = int(std::clamp(cy - r, double(first), double(end))), y1 = int(std::clamp(cy + r, first - 1.0, end - 1.0));
    for (int y = y0; y <= y1; ++y) {
        const double dy = y + 0.5 - my;
        for (int x = x0; x <= x1; ++x) {
            const double dx = x + 0.5 - mx;
            const double power = -0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy);
            if (!(power > log_min)) continue;
            const double alpha = std::min(limits.max_alpha, opacity * std::exp(power));
            if (alpha >= limits.min_alpha) visit(y * width + x, alpha);
        }
    }
}

// Front-to-back compositing of each pixel's bucket: weight = alpha * prod (1 - alpha in front).
// Keys index depth and rgb; the frame names them ids[key] (ids null: the keys themselves).
// Pixels are shared among the workers in ranges of about equal pairs.
Frame blend(Buckets buckets, const double *depth, const float *rgb, const int32_t *ids, size_t pixels) {
    Frame out;
    out.alpha.assign(pixels, 0.0);
    out.colour.assign(3 * pixels, 0.0);
    out.depth_sum.assign(pixels, 0.0);
    out.top.assign(pixels, -1);
    out.pixel.resize(buckets.key.size());
    out.weight.resize(buckets.key.size());
    const size_t workers = worker_count();
    const std::vector<size_t> cut = balanced_cuts(buckets.start, workers);
    run_parallel(workers, [&](size_t t) {
        for (size_t p = cut[t]; p < cut[t + 1]; ++p) {
            double transmittance = 1.0, best = 0.0;
            for (size_t i = buckets.start[p]; i < buckets.start[p + 1]; ++i) {
                const int32_t k = buckets.key[i];
                const double w = buckets.alpha[i] * transmittance;
                out.alpha[p] += w;
                for (int ch = 0; ch < 3; ++ch) out.colour[3 * p + ch] += w * double(rgb[3 * size_t(k) + ch]);
                out.depth_sum[p] += w * depth[k];
                if (w > best) {
                    best = w;
                    out.top[p] = ids ? ids[k] : k;
                }
                if (ids) buckets.key[i] = ids[k];
                out.pixel[i] = int32_t(p);
                out.weight[i] = float(w);
                transmittance *= 1.0 - buckets.alpha[i];
            }
        }
    });
    out.key = std::move(buckets.key);
    return out;
}

bool finite(std::initializer_list<double> values) {
    for (double v : values)
        if (!std::isfinite(v)) return false;
    return true;
}

}  // namespace

Projected project(const float *positions, const float *rotations, const float *scales, size_t count,
                  const SplatCamera &cam, ProjectionLimits limits) {
    const double *R = cam.rotation;
    Projected out;
    for (size_t i = 0; i < count; ++i) {
        const double p[3] = {positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]};
        double c[3];
        for (int k = 0; k < 3; ++k) c[k] = p[0] * R[3 * k] + p[1] * R[3 * k + 1] + p[2] * R[3 * k + 2] + cam.translation[k];
        const double x = c[0], y = c[1], z = c[2];
        if (!(z > limits.near)) continue;
        // Covariance in the world: r diag(s^2) r^T, r from the quaternion.
        const double qw = rotations[4 * i], qx = rotations[4 * i + 1], qy = rotations[4 * i + 2], qz = rotations[4 * i + 3];
        const double r[3][3] = {{1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qw * qz), 2 * (qx * qz + qw * qy)},
                                {2 * (qx * qy + qw * qz), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qw * qx)},
                                {2 * (qx * qz - qw * qy), 2 * (qy * qz + qw * qx), 1 - 2 * (qx * qx + qy * qy)}};
        double s2[3];
        for (int k = 0; k < 3; ++k) s2[k] = double(scales[3 * i + k]) * double(scales[3 * i + k]);
        double sigma[3][3];
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) sigma[a][b] = r[a][0] * s2[0] * r[b][0] + r[a][1] * s2[1] * r[b][1] + r[a][2] * s2[2] * r[b][2];
        // m = J W: the perspective Jacobian at the centre times the camera rotation.
        const double jac[2][3] = {{cam.fx / z, 0.0, -cam.fx * x / (z * z)}, {0.0, cam.fy / z, -cam.fy * y / (z * z)}};
        double m[2][3], ms[2][3], cov[2][2];
        for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 3; ++b) m[a][b] = jac[a][0] * R[b] + jac[a][1] * R[3 + b] + jac[a][2] * R[6 + b];
        for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 3; ++b) ms[a][b] = m[a][0] * sigma[0][b] + m[a][1] * sigma[1][b] + m[a][2] * sigma[2][b];
        for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) cov[a][b] = ms[a][0] * m[b][0] + ms[a][1] * m[b][1] + ms[a][2] * m[b][2];
        cov[0][0] += limits.low_pass;
        cov[1][1] += limits.low_pass;
        const double det = cov[0][0] * cov[1][1] - cov[0][1] * cov[0][1];
        const double conic[3] = {cov[1][1] / det, -cov[0][1] / det, cov[0][0] / det};
        const double mx = cam.fx * x / z + cam.cx, my = cam.fy * y / z + cam.cy;
        const double spread = cov[0][0] - cov[1][1];
        const double radius = std::ceil(3 * std::sqrt(0.5 * (cov[0][0] + cov[1][1]) +
                                                      std::sqrt(0.25 * (spread * spread) + cov[0][1] * cov[0][1])));
        if (!(mx + radius > 0 && mx - radius < cam.width && my + radius > 0 && my - radius < cam.height)) continue;
        if (!finite({mx, my, conic[0], conic[1], conic[2]})) continue;
        out.index.push_back(int64_t(i));
        out.mean.insert(out.mean.end(), {mx, my});
        out.depth.push_back(z);
        out.conic.insert(out.conic.end(), conic, conic + 3);
        out.radius.push_back(int32_t(std::min(radius, double(limits.max_radius))));
    }
    return out;
}

Frame splat(const Footprints &f, const double *depth, const float *rgb, const int32_t *ids, int width, int height,
            AlphaLimits limits) {
    const size_t pixels = size_t(width) * size_t(height);
    const size_t workers = worker_count();
    // The workers count each pixel's pairs while one more task sorts the Gaussians front to back.
    std::vector<uint32_t> order(f.count);
    std::vector<std::vector<uint32_t>> counts(workers, std::vector<uint32_t>(pixels, 0));
    run_parallel(workers + 1, [&](size_t t) {
        if (t == workers) {
            std::iota(order.begin(), order.end(), 0u);
            std::stable_sort(order.begin(), order.end(), [&](uint32_t i, uint32_t j) { return depth[i] < depth[j]; });
            return;
        }
        for (size_t row = f.count * t / workers; row < f.count * (t + 1) / workers; ++row)
            for_each_pixel(f, row, width, 0, height, limits, [&](int p, double) { ++counts[t][p]; });
    });
    std::vector<size_t> count(pixels, 0);
    for (const auto &c : counts)
        for (size_t p = 0; p < pixels; ++p) count[p] += c[p];
    counts.clear();
    Buckets buckets = open_buckets(count);
    // Each worker fills the buckets of a stripe of image rows holding about its share of the pairs. Filled
    // Gaussian by Gaussian front to back, every bucket comes out sorted by depth.
    std::vector<size_t> pairs_before_row(size_t(height) + 1);
    for (int y = 0; y <= height; ++y) pairs_before_row[size_t(y)] = buckets.start[size_t(y) * size_t(width)];
    const std::vector<size_t> stripe = balanced_cuts(pairs_before_row, workers);
    // Every worker reads every footprint: gathered into depth order once, it reads them in sequence.
    std::vector<double> mean(2 * f.count), conic(3 * f.count), opacity(f.count);
    std::vector<int32_t> radius(f.count);
    for (size_t j = 0; j < f.count; ++j) {
        const size_t row = order[j];
        std::copy_n(f.mean + 2 * row, 2, &mean[2 * j]);
        std::copy_n(f.conic + 3 * row, 3, &conic[3 * j]);
        opacity[j] = f.opacity[row];
        radius[j] = f.radius[row];
    }
    const Footprints front_to_back{f.count, mean.data(), conic.data(), radius.data(), opacity.data()};
    std::vector<size_t> cursor(buckets.start.begin(), buckets.start.end() - 1);
    run_parallel(workers, [&](size_t t) {
        for (size_t j = 0; j < f.count; ++j)
            for_each_pixel(front_to_back, j, width, int(stripe[t]), int(stripe[t + 1]), limits, [&](int p, double alpha) {
                buckets.key[cursor[p]] = int32_t(order[j]);
                buckets.alpha[cursor[p]++] = alpha;
            });
    });
    return blend(std::move(buckets), depth, rgb, ids, pixels);
}

Frame composite(const int32_t *key, const int32_t *pixel, const double *alpha, size_t count, const double *depth,
                const float *rgb, int width, int height, double min_alpha) {
    const size_t pixels = size_t(width) * size_t(height);
    std::vector<size_t> kept;
    std::vector<size_t> per_pixel(pixels, 0);
    for (size_t i = 0; i < count; ++i)
        if (alpha[i] >= min_alpha) {
            kept.push_back(i);
            ++per_pixel[pixel[i]];
        }
    std::stable_sort(kept.begin(), kept.end(), [&](size_t i, size_t j) { return depth[key[i]] < depth[key[j]]; });
    Buckets buckets = open_buckets(per_pixel);
    std::vector<size_t> cursor(buckets.start.begin(), buckets.start.end() - 1);
    for (size_t i : kept) {
        buckets.key[cursor[pixel[i]]] = key[i];
        buckets.alpha[cursor[pixel[i]]++] = alpha[i];
    }
    return blend(std::move(buckets), depth, rgb, nullptr, pixels);
}

}  // namespace vaf
