// vaf._native: the C ABI of vaf.h with numpy arrays in and out, plus the build-time kernels
// of python_scene_build.cpp. Rendering releases the GIL; failures raise ValueError with
// the C library's message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "vaf/vaf.h"

namespace py = pybind11;

void add_scene_build_functions(py::module_ &m);  // python_scene_build.cpp

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

void check(vaf_status status) {
    if (status == VAF_OK) return;
    throw py::value_error(vaf_last_error());
}

// An opaque C handle freed by its destroy function when the Python object goes.
template <typename T, void (*Destroy)(T *)>
struct HandleDeleter {
    void operator()(T *handle) const { Destroy(handle); }
};
template <typename T, void (*Destroy)(T *)>
using Handle = std::unique_ptr<T, HandleDeleter<T, Destroy>>;

// Keeps the mode arrays alive while a vaf_recipe points into them.
struct RecipeArrays {
    FloatArray freq, decay, gain;
    vaf_recipe recipe{};
};

RecipeArrays make_recipe(const py::object &freq, const py::object &decay, const py::object &gain,
                         const std::array<float, 4> &noise) {
    RecipeArrays r{FloatArray::ensure(freq), FloatArray::ensure(decay), FloatArray::ensure(gain)};
    if (!r.freq || !r.decay || !r.gain) throw py::value_error("recipe arrays must be convertible to float32");
    const char *names[] = {"freq_hz", "decay_per_s", "gain"};
    FloatArray *arrays[] = {&r.freq, &r.decay, &r.gain};
    for (int i = 0; i < 3; ++i)
        if (arrays[i]->ndim() != 1)
            throw py::value_error(std::string("recipe.") + names[i] + " must be one-dimensional");
    const auto n = r.freq.shape(0);
    if (r.decay.shape(0) != n || r.gain.shape(0) != n)
        throw py::value_error("recipe.freq_hz, recipe.decay_per_s and recipe.gain must have the same length, got " +
                              std::to_string(n) + ", " + std::to_string(r.decay.shape(0)) + ", " +
                              std::to_string(r.gain.shape(0)));
    if (n > VAF_MAX_MODES)
        throw py::value_error("recipe.num_modes = " + std::to_string(n) + " exceeds " + std::to_string(VAF_MAX_MODES));
    r.recipe.num_modes = uint32_t(n);
    r.recipe.freq_hz = r.freq.data();
    r.recipe.decay_per_s = r.decay.data();
    r.recipe.gain = r.gain.data();
    r.recipe.noise_center_hz = noise[0];
    r.recipe.noise_bandwidth_hz = noise[1];
    r.recipe.noise_level = noise[2];
    r.recipe.noise_decay_per_s = noise[3];
    return r;
}

vaf_contact make_contact(const std::array<float, 7> &c) {
    return vaf_contact{c[0], c[1], c[2], c[3], c[4], c[5], c[6]};
}

vaf_render_options make_options(int64_t sample_rate, uint64_t seed, float detune, float gain) {
    if (sample_rate < 0 || sample_rate > int64_t(UINT32_MAX))
        throw py::value_error("options.sample_rate = " + std::to_string(sample_rate) + " is out of range");
    return vaf_render_options{uint32_t(sample_rate), seed, detune, gain};
}

size_t check_frames(int64_t frames) {
    if (frames < 0) throw py::value_error("frames = " + std::to_string(frames) + " must be >= 0");
    return size_t(frames);
}

py::array convert_output(py::array_t<float> pcm, const std::string &format) {  // f32 as is, or s16
    if (format == "f32") return pcm;
    if (format != "s16") throw py::value_error("format = '" + format + "' must be 'f32' or 's16'");
    py::array_t<int16_t> out(pcm.request().shape);
    const float *in = pcm.data();
    int16_t *dst = out.mutable_data();
    const auto n = size_t(pcm.size());
    {
        py::gil_scoped_release release;
        vaf_f32_to_s16(in, dst, n);
    }
    return out;
}

// Allocates an (n,) array and fills it through a C call made without the GIL.
template <typename T, typename Fill>
py::array render_into(size_t n, Fill fill) {
    py::array_t<T> out(n);
    T *dst = out.mutable_data();
    vaf_status s;
    {
        py::gil_scoped_release release;
        s = fill(dst, n);
    }
    check(s);
    return out;
}

class Voice {
public:
    Voice(const py::object &freq, const py::object &decay, const py::object &gain, const std::array<float, 4> &noise,
          const std::array<float, 7> &contact, int64_t sample_rate, uint64_t seed, float detune, float out_gain) {
        RecipeArrays r = make_recipe(freq, decay, gain, noise);
        const vaf_contact c = make_contact(contact);
        const vaf_render_options o = make_options(sample_rate, seed, detune, out_gain);
        vaf_voice *v = nullptr;
        check(vaf_voice_create(&r.recipe, &c, &o, &v));
        voice_.reset(v);
    }

    py::array render(int64_t frames, const std::string &format) {
        if (format != "f32" && format != "s16")
            throw py::value_error("format = '" + format + "' must be 'f32' or 's16'");
        const size_t n = check_frames(frames);
        vaf_voice *v = voice_.get();
        if (format == "s16")
            return render_into<int16_t>(n, [v](int16_t *dst, size_t k) { return vaf_voice_render_s16(v, dst, k); });
        return render_into<float>(n, [v](float *dst, size_t k) { return vaf_voice_render_f32(v, dst, k); });
    }

    uint64_t position() const {
        uint64_t p = 0;
        check(vaf_voice_position(voice_.get(), &p));
        return p;
    }

private:
    Handle<vaf_voice, vaf_voice_destroy> voice_;
};

py::array render(const py::object &freq, const py::object &decay, const py::object &gain,
                 const std::array<float, 4> &noise, const std::array<float, 7> &contact, int64_t sample_rate,
                 int64_t frames, uint64_t seed, float detune, float out_gain, const std::string &format) {
    RecipeArrays r = make_recipe(freq, decay, gain, noise);
    const vaf_contact c = make_contact(contact);
    const vaf_render_options o = make_options(sample_rate, seed, detune, out_gain);
    const size_t n = check_frames(frames);
    py::array out = render_into<float>(n, [&](float *dst, size_t k) { return vaf_render_f32(&r.recipe, &c, &o, dst, k); });
    return convert_output(out, format);
}

py::array render_batch(const std::vector<py::object> &freqs, const std::vector<py::object> &decays,
                       const std::vector<py::object> &gains, const std::vector<std::array<float, 4>> &noises,
                       const std::vector<std::array<float, 7>> &contacts, const std::vector<uint64_t> &seeds,
                       int64_t sample_rate, int64_t frames, float detune, float out_gain, const std::string &format) {
    const size_t count = freqs.size();
    if (decays.size() != count || gains.size() != count || noises.size() != count || contacts.size() != count ||
        seeds.size() != count)
        throw py::value_error("render_batch: freqs, decays, gains, noises, contacts and seeds must have one entry "
                              "per voice");
    std::vector<RecipeArrays> arrays;
    arrays.reserve(count);
    std::vector<vaf_recipe> recipes;
    std::vector<vaf_contact> cs;
    std::vector<vaf_render_options> options;
    for (size_t i = 0; i < count; ++i) {
        try {
            arrays.push_back(make_recipe(freqs[i], decays[i], gains[i], noises[i]));
        } catch (const py::value_error &e) {
            throw py::value_error("voice " + std::to_string(i) + ": " + e.what());
        }
        recipes.push_back(arrays.back().recipe);
        cs.push_back(make_contact(contacts[i]));
        options.push_back(make_options(sample_rate, seeds[i], detune, out_gain));
    }
    const size_t n = check_frames(frames);
    py::array_t<float> out({count, n});
    float *dst = out.mutable_data();
    vaf_status s;
    {
        py::gil_scoped_release release;
        s = vaf_render_batch_f32(count, recipes.data(), cs.data(), options.data(), dst, n);
    }
    check(s);
    return convert_output(out, format);
}

// (N, 3) float32 points as a C-contiguous array; ValueError naming `name` otherwise.
FloatArray points_array(const py::object &points, const char *name) {
    FloatArray a = FloatArray::ensure(points);
    if (!a) throw py::value_error(std::string(name) + " must be convertible to float32");
    if (a.ndim() != 2 || a.shape(1) != 3) {
        std::string shape;
        for (py::ssize_t i = 0; i < a.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(a.shape(i));
        throw py::value_error(std::string(name) + " must have shape (N, 3), got (" + shape + ")");
    }
    return a;
}

class SurfaceIndex {
public:
    explicit SurfaceIndex(const py::object &points) {
        FloatArray p = points_array(points, "points");
        vaf_surface_index *index = nullptr;
        check(vaf_surface_index_create(p.data(), size_t(p.shape(0)), &index));
        index_.reset(index);
    }

    std::pair<py::array, py::array> nearest(const py::object &queries, int64_t k) const {
        FloatArray q = points_array(queries, "queries");
        if (k < 1) throw py::value_error("k = " + std::to_string(k) + " must be >= 1");
        const auto n = size_t(q.shape(0));
        // (B,) for one neighbour, (B, k) for several
        std::vector<py::ssize_t> shape{py::ssize_t(n)};
        if (k > 1) shape.push_back(py::ssize_t(k));
        py::array_t<double> distance(shape);
        py::array_t<uint32_t> nearest(shape);
        const float *queries_data = q.data();
        double *d = distance.mutable_data();
        uint32_t *i = nearest.mutable_data();
        vaf_status s;
        {
            py::gil_scoped_release release;
            s = vaf_surface_index_nearest(index_.get(), queries_data, n, size_t(k), d, i);
        }
        check(s);
        return {distance, nearest};
    }

    size_t size() const {
        size_t n = 0;
        check(vaf_surface_index_size(index_.get(), &n));
        return n;
    }

private:
    Handle<vaf_surface_index, vaf_surface_index_destroy> index_;
};

double contact_duration(const std::array<float, 7> &contact) {
    const vaf_contact c = make_contact(contact);
    double seconds = 0;
    check(vaf_contact_duration(&c, &seconds));
    return seconds;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "VAF Bridge native core: real-time impact synthesizer and surface index (see bindings/include/vaf/vaf.h), "
              "and the splat compositing and feature lift of `vaf scene build`.";
    m.attr("ABI_VERSION") = VAF_ABI_VERSION;
    m.attr("MAX_MODES") = VAF_MAX_MODES;
    m.attr("MIN_SAMPLE_RATE") = VAF_MIN_SAMPLE_RATE;
    m.attr("MAX_SAMPLE_RATE") = VAF_MAX_SAMPLE_RATE;
    m.def("version", &vaf_version, "Native library version.");
    m.def("contact_duration", &contact_duration, py::arg("contact"),
          "Hertz contact duration in seconds; contact = (impulse, speed, striker_modulus, striker_poisson, "
          "striker_radius, target_modulus, target_poisson).");
    m.def("render", &render, py::arg("freq_hz"), py::arg("decay_per_s"), py::arg("gain"), py::arg("noise"),
          py::arg("contact"), py::arg("sample_rate"), py::arg("frames"), py::arg("seed") = 0,
          py::arg("detune") = 0.0f, py::arg("out_gain") = 1.0f, py::arg("format") = "f32",
          "Renders one recipe from sample 0: (frames,) float32 or int16. noise = (centre Hz, bandwidth Hz, "
          "level, decay 1/s).");
    m.def("render_batch", &render_batch, py::arg("freqs"), py::arg("decays"), py::arg("gains"), py::arg("noises"),
          py::arg("contacts"), py::arg("seeds"), py::arg("sample_rate"), py::arg("frames"), py::arg("detune") = 0.0f,
          py::arg("out_gain") = 1.0f, py::arg("format") = "f32",
          "Renders many recipes in one call: (count, frames) float32 or int16.");
    py::class_<Voice>(m, "Voice", "A recipe rendered in consecutive chunks (streaming).")
        .def(py::init<const py::object &, const py::object &, const py::object &, const std::array<float, 4> &,
                      const std::array<float, 7> &, int64_t, uint64_t, float, float>(),
             py::arg("freq_hz"), py::arg("decay_per_s"), py::arg("gain"), py::arg("noise"), py::arg("contact"),
             py::arg("sample_rate"), py::arg("seed") = 0, py::arg("detune") = 0.0f, py::arg("out_gain") = 1.0f)
        .def("render", &Voice::render, py::arg("frames"), py::arg("format") = "f32",
             "Renders the next frames samples.")
        .def_property_readonly("position", &Voice::position, "Index of the next sample.");
    py::class_<SurfaceIndex>(m, "SurfaceIndex",
                             "Nearest-point queries over (N, 3) float32 surface samples, metres (a static kd-tree).")
        .def(py::init<const py::object &>(), py::arg("points"))
        .def("nearest", &SurfaceIndex::nearest, py::arg("queries"), py::arg("k") = 1,
             "(B, 3) query points -> (distance float64 metres, index uint32) of the nearest point, (B,) each, or "
             "of the k nearest, (B, k) each, nearest first; a tie goes to the lower index.")
        .def("__len__", &SurfaceIndex::size);
    add_scene_build_functions(m);
}
