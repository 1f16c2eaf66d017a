// vaf._native's build-time kernels of `vaf scene build`: splat compositing (splat_raster.hpp) and
// the feature lift's accumulation (feature_lift.hpp), numpy arrays in and out. Not in the C ABI:
// engines neither render splats nor lift features. Inputs are checked here, so the kernels can
// trust them; a bad one raises ValueError naming the argument.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "feature_lift.hpp"
#include "parallel.hpp"
#include "splat_raster.hpp"

namespace py = pybind11;

namespace {

template <typename T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

template <typename T>
Array<T> shaped(const py::object &value, const char *name, std::vector<py::ssize_t> shape) {
    Array<T> a = Array<T>::ensure(value);
    if (!a) throw py::value_error(std::string(name) + " must be a numeric array");
    bool ok = a.ndim() == py::ssize_t(shape.size());
    for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || a.shape(i) == shape[i];
    if (!ok) {
        auto text = [](auto n, auto at) {
            std::string s;
            for (py::ssize_t i = 0; i < n; ++i) s += (i ? ", " : "") + (at(i) < 0 ? std::string("N") : std::to_string(at(i)));
            return "(" + s + (n == 1 ? ",)" : ")");
        };
        throw py::value_error(std::string(name) + " must have shape " +
                              text(py::ssize_t(shape.size()), [&](py::ssize_t i) { return shape[i]; }) + ", got " +
                              text(a.ndim(), [&](py::ssize_t i) { return a.shape(i); }));
    }
    return a;
}

template <typename T>
void require_finite(const Array<T> &a, const char *name) {
    const T *d = a.data();
    for (py::ssize_t i = 0; i < a.size(); ++i)
        if (!std::isfinite(double(d[i])))
            throw py::value_error(std::string(name) + " holds a non-finite value at flat index " + std::to_string(i));
}

void require_within(const Array<int32_t> &a, const char *name, int64_t lo, int64_t hi) {
    const int32_t *d = a.data();
    for (py::ssize_t i = 0; i < a.size(); ++i)
        if (d[i] < lo || d[i] >= hi)
            throw py::value_error(std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(d[i]) +
                                  " is outside " + std::to_string(lo) + ".." + std::to_string(hi - 1));
}

void require_image(int width, int height) {
    if (width < 1 || height < 1 || int64_t(width) * height >= (int64_t(1) << 31))
        throw py::value_error("width x height = " + std::to_string(width) + " x " + std::to_string(height) +
                              " must be at least 1 x 1 and under 2^31 pixels");
}

void require_limits(double min_alpha, double max_alpha) {
    if (!(min_alpha > 0 && min_alpha <= max_alpha && max_alpha < 1))
        throw py::value_error("alpha limits must satisfy 0 < min_alpha <= max_alpha < 1, got " + std::to_string(min_alpha) +
                              " and " + std::to_string(max_alpha));
}

// A vector handed to numpy without a copy: the array owns it.
template <typename T>
py::array_t<T> to_numpy(std::vector<T> &&values, std::vector<py::ssize_t> shape) {
    auto *owned = new std::vector<T>(std::move(values));
    py::capsule owner(owned, [](void *p) { delete static_cast<std::vector<T> *>(p); });
    return py::array_t<T>(shape, owned->data(), owner);
}

py::tuple frame_arrays(vaf::Frame &&f, int width, int height) {
    const py::ssize_t h = height, w = width, r = py::ssize_t(f.key.size());
    return py::make_tuple(to_numpy(std::move(f.alpha), {h, w}), to_numpy(std::move(f.colour), {h, w, 3}),
                          to_numpy(std::move(f.depth_sum), {h, w}), to_numpy(std::move(f.top), {h, w}),
                          to_numpy(std::move(f.pixel), {r}), to_numpy(std::move(f.key), {r}),
                          to_numpy(std::move(f.weight), {r}));
}

py::tuple project(const py::object &positions, const py::object &rotations, const py::object &scales,
                  const py::object &rotation, const py::object &translation, const std::array<double, 4> &intrinsics,
                  int width, int height, double near, double low_pass, int max_radius) {
    require_image(width, height);
    if (!(near > 0) || !(low_pass >= 0) || max_radius < 0 || max_radius > 1024)
        throw py::value_error("need near > 0, low_pass >= 0 and 0 <= max_radius <= 1024, got " + std::to_string(near) +
                              ", " + std::to_string(low_pass) + " and " + std::to_string(max_radius));
    auto p = shaped<float>(positions, "positions", {-1, 3});
    const py::ssize_t n = p.shape(0);
    auto q = shaped<float>(rotations, "rotations", {n, 4});
    auto s = shaped<float>(scales, "scales", {n, 3});
    auto r = shaped<double>(rotation, "rotation", {3, 3});
    auto t = shaped<double>(translation, "translation", {3});
    require_finite(r, "rotation");
    require_finite(t, "translation");
    vaf::SplatCamera cam{{}, {}, intrinsics[0], intrinsics[1], intrinsics[2], intrinsics[3], width, height};
    std::copy(r.data(), r.data() + 9, cam.rotation);
    std::copy(t.data(), t.data() + 3, cam.translation);
    if (!(cam.fx > 0 && cam.fy > 0 && std::isfinite(cam.fx) && std::isfinite(cam.fy) && std::isfinite(cam.cx) &&
          std::isfinite(cam.cy)))
        throw py::value_error("intrinsics (fx, fy, cx, cy) must be finite with fx, fy > 0");
    vaf::Projected out;
    {
        py::gil_scoped_release release;
        out = vaf::project(p.data(), q.data(), s.data(), size_t(n), cam, {near, low_pass, max_radius});
    }
    const py::ssize_t v = py::ssize_t(out.index.size());
    return py::make_tuple(to_numpy(std::move(out.index), {v}), to_numpy(std::move(out.mean), {v, 2}),
                          to_numpy(std::move(out.depth), {v}), to_numpy(std::move(out.conic), {v, 3}),
                          to_numpy(std::move(out.radius), {v}));
}

py::tuple splat(const py::object &mean, const py::object &conic, const py::object &radius, const py::object &opacity,
                const py::object &depth, const py::object &rgb, const py::object &ids, int width, int height,
                double min_alpha, double max_alpha) {
    require_image(width, height);
    require_limits(min_alpha, max_alpha);
    auto m = shaped<double>(mean, "mean", {-1, 2});
    const py::ssize_t v = m.shape(0);
    auto q = shaped<double>(conic, "conic", {v, 3});
    auto r = shaped<int32_t>(radius, "radius", {v});
    auto o = shaped<double>(opacity, "opacity", {v});
    auto z = shaped<double>(depth, "depth", {v});
    auto c = shaped<float>(rgb, "rgb", {v, 3});
    auto id = shaped<int32_t>(ids, "ids", {v});
    require_finite(m, "mean");
    require_finite(q, "conic");
    require_finite(o, "opacity");
    require_finite(z, "depth");
    require_within(r, "radius", 0, 1025);
    const vaf::Footprints footprints{size_t(v), m.data(), q.data(), r.data(), o.data()};
    vaf::Frame frame;
    {
        py::gil_scoped_release release;
        frame = vaf::splat(footprints, z.data(), c.data(), id.data(), width, height, {min_alpha, max_alpha});
    }
    return frame_arrays(std::move(frame), width, height);
}

py::tuple composite(const py::object &key, const py::object &pixel, const py::object &alpha, const py::object &depth,
                    const py::object &rgb, int width, int height, double min_alpha) {
    require_image(width, height);
    if (!(min_alpha > 0 && min_alpha < 1))
        throw py::value_error("min_alpha must be in (0, 1), got " + std::to_string(min_alpha));
    auto k = shaped<int32_t>(key, "gaussian", {-1});
    const py::ssize_t count = k.shape(0);
    auto p = shaped<int32_t>(pixel, "pixel", {count});
    auto a = shaped<double>(alpha, "alpha", {count});
    auto z = shaped<double>(depth, "depth", {-1});
    auto c = shaped<float>(rgb, "rgb", {z.shape(0), 3});
    require_within(k, "gaussian", 0, z.shape(0));
    require_within(p, "pixel", 0, int64_t(width) * height);
    // Only the depths of listed Gaussians: a GPU projection leaves culled ones' as they fall.
    for (py::ssize_t i = 0; i < count; ++i)
        if (!std::isfinite(z.data()[k.data()[i]]))
            throw py::value_error("depth[" + std::to_string(k.data()[i]) + "] of a listed Gaussian is not finite");
    vaf::Frame frame;
    {
        py::gil_scoped_release release;
        frame = vaf::composite(k.data(), p.data(), a.data(), size_t(count), z.data(), c.data(), width, height, min_alpha);
    }
    return frame_arrays(std::move(frame), width, height);
}

// A caller's array updated in place: it must already be of type T, C-contiguous and writable (a converted
// copy would take the update away from the caller).
template <typename T>
T *in_place(py::array &a, const char *name, const char *type, std::vector<py::ssize_t> shape) {
    if (!a.dtype().is(py::dtype::of<T>()) || !(a.flags() & py::array::c_style) || !a.writeable())
        throw py::value_error(std::string(name) + " must be a writable C-contiguous " + type +
                              " array (it is updated in place)");
    shaped<T>(a, name, std::move(shape));
    return static_cast<T *>(a.mutable_data());
}

void lift_add_view(const py::object &pixel, const py::object &gaussian, const py::object &weight,
                   const py::object &mask_of_pixel, const std::vector<py::object> &embeddings, py::array features,
                   py::array weight_sum) {
    auto p = shaped<int32_t>(pixel, "pixel", {-1});
    const py::ssize_t count = p.shape(0);
    auto g = shaped<int32_t>(gaussian, "gaussian", {count});
    auto w = shaped<float>(weight, "weight", {count});
    auto masks = shaped<int64_t>(mask_of_pixel, "mask_of_pixel", {py::ssize_t(embeddings.size()), -1});
    float *f = in_place<float>(features, "features", "float32", {-1, masks.shape(0), -1});
    const py::ssize_t n = features.shape(0), levels = masks.shape(0), pixels = masks.shape(1), dim = features.shape(2);
    double *ws = in_place<double>(weight_sum, "weight_sum", "float64", {n, levels});
    require_within(g, "gaussian", 0, n);
    require_within(p, "pixel", 0, pixels);
    std::vector<Array<float>> emb;
    std::vector<const float *> rows;
    for (py::ssize_t level = 0; level < levels; ++level) {
        const std::string name = "embeddings[" + std::to_string(level) + "]";
        emb.push_back(shaped<float>(embeddings[size_t(level)], name.c_str(), {-1, dim}));
        rows.push_back(emb.back().data());
        const int64_t *m = masks.data() + level * pixels;
        for (py::ssize_t i = 0; i < pixels; ++i)
            if (m[i] < -1 || m[i] >= emb.back().shape(0))
                throw py::value_error("mask_of_pixel[" + std::to_string(level) + ", " + std::to_string(i) + "] = " +
                                      std::to_string(m[i]) + " is not -1 or a row of " + name + " (" +
                                      std::to_string(emb.back().shape(0)) + " rows)");
    }
    const vaf::LiftView view{size_t(count), p.data(), g.data(), w.data(), size_t(levels), size_t(pixels), size_t(dim),
                             masks.data(), rows.data()};
    py::gil_scoped_release release;
    vaf::add_view(view, size_t(n), f, ws);
}

}  // namespace

void add_scene_build_functions(py::module_ &m) {
    m.def("worker_count", &vaf::worker_count,
          "Threads the scene-build kernels split their work over: VAF_THREADS when set (1..64), else usable_cores() "
          "(at most 16).");
    m.def("usable_cores", &vaf::usable_cores,
          "Cores this process may use: the CPUs of its affinity, fewer where its cgroup's CPU quota (v1 or v2, at "
          "its level or above) grants less time, rounded up. At least 1.");
    m.def("project", &project, py::arg("positions"), py::arg("rotations"), py::arg("scales"), py::arg("rotation"),
          py::arg("translation"), py::arg("intrinsics"), py::arg("width"), py::arg("height"), py::arg("near"),
          py::arg("low_pass"), py::arg("max_radius"),
          "EWA projection of N Gaussians (positions (N, 3), rotations (N, 4) w, x, y, z, scales (N, 3), float32) by a "
          "pinhole camera (rotation (3, 3) world-to-camera, translation (3,), intrinsics (fx, fy, cx, cy) px). Returns "
          "(index (V,) int64, mean (V, 2) px, depth (V,) metres, conic (V, 3), radius (V,) int32 px) for the Gaussians "
          "beyond `near` whose footprint touches the image.");
    m.def("splat", &splat, py::arg("mean"), py::arg("conic"), py::arg("radius"), py::arg("opacity"), py::arg("depth"),
          py::arg("rgb"), py::arg("ids"), py::arg("width"), py::arg("height"), py::arg("min_alpha"),
          py::arg("max_alpha"),
          "Composites V projected Gaussians front to back. mean (V, 2) px, conic (V, 3) a, b, c of the inverse 2D "
          "covariance, radius (V,) int px, opacity (V,), depth (V,) metres, rgb (V, 3), ids (V,) int32 the Gaussians' "
          "ids in the result. Returns (alpha (H, W), colour (H, W, 3), depth_sum (H, W), top (H, W) id or -1, "
          "pixel (R,), id (R,), weight (R,) float32): every pair with alpha >= min_alpha, grouped by ascending "
          "pixel, front to back.");
    m.def("composite", &composite, py::arg("gaussian"), py::arg("pixel"), py::arg("alpha"), py::arg("depth"),
          py::arg("rgb"), py::arg("width"), py::arg("height"), py::arg("min_alpha"),
          "Composites (gaussian, pixel, alpha) pairs given in any order, front to back per pixel. depth (N,) metres "
          "and rgb (N, 3) per Gaussian id. Returns what splat() does.");
    m.def("lift_add_view", &lift_add_view, py::arg("pixel"), py::arg("gaussian"), py::arg("weight"),
          py::arg("mask_of_pixel"), py::arg("embeddings"), py::arg("features"), py::arg("weight_sum"),
          "Adds one view's weighted mask embeddings to the lift's running sums, in place: for every (pixel, gaussian, "
          "weight) pair and level l whose pixel has a mask m = mask_of_pixel[l, pixel] >= 0, features[gaussian, l] += "
          "weight * embeddings[l][m] and weight_sum[gaussian, l] += weight. features: (N, L, D) float32; "
          "weight_sum: (N, L) float64.");
}
