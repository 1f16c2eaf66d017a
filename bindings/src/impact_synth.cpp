#include "impact_synth.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

// Hot loops are compiled for several x86 levels and picked at load time, so one
// binary is both portable and vectorised for the machine it runs on.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define VAF_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#pragma GCC diagnostic ignored "-Wpsabi"
#else
#define VAF_MULTIVERSION
#endif

namespace vaf {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Counters at and above this value draw the per-mode detuning; below it, noise samples.
constexpr uint64_t kDetuneStream = uint64_t(1) << 63;

Error fail(vaf_status status, std::string message) { return Error{status, std::move(message)}; }

Error check_value(const std::string &name, double value, double low, bool low_open, double high) {
    if (std::isnan(value)) return fail(VAF_ERROR_NOT_FINITE, name + " is NaN");
    if (!std::isfinite(value)) return fail(VAF_ERROR_NOT_FINITE, name + " is infinite");
    if (value < low || (low_open && value == low) || value > high) {
        std::string bound = low_open ? "> " : ">= ";
        return fail(VAF_ERROR_OUT_OF_RANGE, name + " = " + std::to_string(value) + " must be " + bound +
                                                std::to_string(low) +
                                                (std::isfinite(high) ? " and <= " + std::to_string(high) : ""));
    }
    return {};
}

constexpr double kInf = std::numeric_limits<double>::infinity();

Error check_array(const char *name, const float *values, uint32_t count, bool signed_ok) {
    if (count > 0 && values == nullptr)
        return fail(VAF_ERROR_NULL_POINTER, std::string("recipe.") + name + " is NULL");
    for (uint32_t i = 0; i < count; ++i) {
        Error e = check_value(std::string("recipe.") + name + "[" + std::to_string(i) + "]", values[i],
                              signed_ok ? -kInf : 0.0, false, kInf);
        if (e.status != VAF_OK) return e;
    }
    return {};
}

// A sample or block count from a double that may exceed uint64 (tiny decay rates ring for ever).
uint64_t saturating_count(double count) {
    return count < 1.8e19 ? uint64_t(count) : std::numeric_limits<uint64_t>::max();
}

// Splitmix64 finaliser: a high-quality 64-bit mix of a counter.
uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Sum over the active modes of Im(z_block * rot_j), each mode's damped sine at sample j of
// the block, vectorised along j so the block stays in registers. The block is held as 8-float
// (256-bit) pieces: a GCC vector type wider than the CPU's registers is spilled to the stack
// for every mode (a 16-float block ran the AVX2 build at a third of its speed). Four partial
// sums break the add latency chain; their order is fixed, so the result is too.
inline __attribute__((always_inline)) void accumulate_modes(const ModeBank &m, size_t count, float *block) {
#if defined(__GNUC__)
    typedef float Piece __attribute__((vector_size(8 * sizeof(float))));
    constexpr unsigned kPieces = kBlock / 8;
    static_assert(kBlock % 8 == 0, "a block is whole 8-float pieces");
    // Two multiply-adds into the accumulator per mode (fused where the CPU has FMA).
    auto add_term = [&](Piece *acc, size_t k) {
        for (unsigned p = 0; p < kPieces; ++p) {
            Piece ri, rr;
            std::memcpy(&ri, m.rot_i + k * kBlock + 8 * p, sizeof ri);
            std::memcpy(&rr, m.rot_r + k * kBlock + 8 * p, sizeof rr);
            acc[p] += m.zrf[k] * ri;
            acc[p] += m.zif[k] * rr;
        }
    };
    Piece a0[kPieces] = {}, a1[kPieces] = {}, a2[kPieces] = {}, a3[kPieces] = {};
    size_t k = 0;
    for (; k + 4 <= count; k += 4) {
        add_term(a0, k);
        add_term(a1, k + 1);
        add_term(a2, k + 2);
        add_term(a3, k + 3);
    }
    for (; k < count; ++k) add_term(a0, k);
    for (unsigned p = 0; p < kPieces; ++p) {
        const Piece sum = (a0[p] + a1[p]) + (a2[p] + a3[p]);
        std::memcpy(block + 8 * p, &sum, sizeof sum);
    }
#else
    float acc[kBlock] = {};
    for (size_t k = 0; k < count; ++k)
        for (unsigned j = 0; j < kBlock; ++j)
            acc[j] += m.zrf[k] * m.rot_i[k * kBlock + j] + m.zif[k] * m.rot_r[k * kBlock + j];
    std::copy(acc, acc + kBlock, block);
#endif
}

// Advances the active modes' states by one block (double precision, then float copies).
inline __attribute__((always_inline)) void rotate_states(const ModeBank &m, size_t count) {
    for (size_t k = 0; k < count; ++k) {
        const double r = m.zr[k] * m.step_r[k] - m.zi[k] * m.step_i[k];
        const double i = m.zr[k] * m.step_i[k] + m.zi[k] * m.step_r[k];
        m.zr[k] = r;
        m.zi[k] = i;
        m.zrf[k] = static_cast<float>(r);
        m.zif[k] = static_cast<float>(i);
    }
}

}  // namespace

VAF_MULTIVERSION
void render_blocks(const ModeBank &m, BlockCursor &cursor, float *out, size_t blocks) {
    for (size_t b = 0; b < blocks; ++b) {
        accumulate_modes(m, cursor.active, out + b * kBlock);
        rotate_states(m, cursor.active);
        ++cursor.block;
        while (cursor.active > 0 && m.end_block[cursor.active - 1] <= cursor.block) --cursor.active;
    }
}

VAF_MULTIVERSION
void peek_block(const ModeBank &m, const BlockCursor &cursor, float *block) {
    accumulate_modes(m, cursor.active, block);
}

namespace {

// The top 24 bits of a mixed counter as a float in [-1, 1); `key` is mix64(seed).
inline float keyed_uniform(uint64_t key, uint64_t counter) {
    const uint64_t bits = mix64(key ^ counter);
    return static_cast<float>(static_cast<double>(bits >> 40) * (2.0 / 16777216.0) - 1.0);
}

}  // namespace

float hash_uniform(uint64_t seed, uint64_t counter) { return keyed_uniform(mix64(seed), counter); }

Error validate_contact(const vaf_contact &c) {
    const struct {
        const char *name;
        double value, low;
        bool open;
        double high;
    } fields[] = {
        {"contact.impulse", c.impulse, 0.0, true, kInf},
        {"contact.speed", c.speed, 0.0, true, kInf},
        {"contact.striker_modulus", c.striker_modulus, 0.0, true, kInf},
        {"contact.striker_poisson", c.striker_poisson, 0.0, false, 0.499},
        {"contact.striker_radius", c.striker_radius, 0.0, true, kInf},
        {"contact.target_modulus", c.target_modulus, 0.0, true, kInf},
        {"contact.target_poisson", c.target_poisson, 0.0, false, 0.499},
    };
    for (const auto &f : fields) {
        Error e = check_value(f.name, f.value, f.low, f.open, f.high);
        if (e.status != VAF_OK) return e;
    }
    return {};
}

Error validate(const vaf_recipe &r, const vaf_contact &c, const vaf_render_options &o) {
    if (o.sample_rate < VAF_MIN_SAMPLE_RATE || o.sample_rate > VAF_MAX_SAMPLE_RATE)
        return fail(VAF_ERROR_OUT_OF_RANGE, "options.sample_rate = " + std::to_string(o.sample_rate) +
                                                " must be within " + std::to_string(VAF_MIN_SAMPLE_RATE) + ".." +
                                                std::to_string(VAF_MAX_SAMPLE_RATE) + " Hz");
    Error e = check_value("options.detune", o.detune, 0.0, false, double(0.1f));
    if (e.status == VAF_OK) e = check_value("options.gain", o.gain, 0.0, false, kInf);
    if (e.status != VAF_OK) return e;
    if (r.num_modes > VAF_MAX_MODES)
        return fail(VAF_ERROR_OUT_OF_RANGE, "recipe.num_modes = " + std::to_string(r.num_modes) +
                                                " exceeds " + std::to_string(VAF_MAX_MODES));
    if ((e = check_array("freq_hz", r.freq_hz, r.num_modes, false)).status != VAF_OK) return e;
    if ((e = check_array("decay_per_s", r.decay_per_s, r.num_modes, false)).status != VAF_OK) return e;
    if ((e = check_array("gain", r.gain, r.num_modes, true)).status != VAF_OK) return e;
    const bool noisy = r.noise_level > 0;
    const struct {
        const char *name;
        double value;
        bool open;
    } noise[] = {
        {"recipe.noise_center_hz", r.noise_center_hz, false},
        {"recipe.noise_bandwidth_hz", r.noise_bandwidth_hz, noisy},
        {"recipe.noise_level", r.noise_level, false},
        {"recipe.noise_decay_per_s", r.noise_decay_per_s, noisy},
    };
    for (const auto &f : noise)
        if ((e = check_value(f.name, f.value, 0.0, f.open, kInf)).status != VAF_OK) return e;
    return validate_contact(c);
}

double contact_duration(const vaf_contact &c) {
    // Hertz impact of a sphere (radius R, effective mass m = J / v) on a half-space:
    // tau = 2.87 (m^2 / (R E*^2 v))^(1/5), E* the combined modulus (Johnson, Contact Mechanics, 1985, ch. 11).
    const double m = double(c.impulse) / double(c.speed);
    const double compliance = (1.0 - double(c.striker_poisson) * c.striker_poisson) / c.striker_modulus +
                              (1.0 - double(c.target_poisson) * c.target_poisson) / c.target_modulus;
    const double e_star = 1.0 / compliance;
    return 2.87 * std::pow(m * m / (double(c.striker_radius) * e_star * e_star * c.speed), 0.2);
}

double contact_spectrum(double x) {
    // |F(f)| / J of a half-sine pulse of duration tau at x = f * tau: |cos(pi x) / (1 - 4 x^2)|.
    // Past x = 1 the side lobes are replaced by their envelope 1 / (4 x^2 - 1): real contact
    // forces are never exact half sines, so the deep notches are not heard. Continuous at x = 1.
    x = std::fabs(x);
    if (std::fabs(x - 0.5) < 1e-9) return kPi / 4.0;
    if (x <= 1.0) return std::fabs(std::cos(kPi * x) / (1.0 - 4.0 * x * x));
    return 1.0 / (4.0 * x * x - 1.0);
}

Voice::Voice(const vaf_recipe &r, const vaf_contact &c, const vaf_render_options &o) : seed_(o.seed) {
    const double fs = o.sample_rate;
    const double tau = contact_duration(c);
    const double scale = double(o.gain) * c.impulse;

    struct Mode {
        double amplitude, omega, decay;
        uint64_t end_block;
    };
    std::vector<Mode> modes;
    modes.reserve(r.num_modes);
    for (uint32_t k = 0; k < r.num_modes; ++k) {
        const double f = r.freq_hz[k] * (1.0 + double(o.detune) * hash_uniform(seed_, kDetuneStream + k));
        if (f >= fs / 2) continue;
        const double amplitude = scale * r.gain[k] * contact_spectrum(f * tau);
        if (std::fabs(amplitude) <= kSilence) continue;
        const double d = r.decay_per_s[k];
        uint64_t end = std::numeric_limits<uint64_t>::max();
        if (d > 0) end = saturating_count(std::ceil(std::log(std::fabs(amplitude) / kSilence) / d * fs / kBlock));
        modes.push_back({amplitude, 2 * kPi * f / fs, d / fs, end});
    }
    // Longest-ringing first, so the modes still sounding are always a prefix.
    std::stable_sort(modes.begin(), modes.end(),
                     [](const Mode &a, const Mode &b) { return a.end_block > b.end_block; });

    const size_t n = modes.size();
    zr_.resize(n);
    zi_.assign(n, 0.0);
    step_r_.resize(n);
    step_i_.resize(n);
    zrf_.resize(n);
    zif_.assign(n, 0.0f);
    rot_r_.resize(n * kBlock);
    rot_i_.resize(n * kBlock);
    end_block_.resize(n);
    for (size_t k = 0; k < n; ++k) {
        const Mode &m = modes[k];
        zr_[k] = m.amplitude;
        zrf_[k] = float(m.amplitude);
        // Powers of the one-sample rotation by complex multiplication in double: one exp,
        // sin and cos per mode instead of per sample (setup time matters at 64 modes).
        const double one_r = std::exp(-m.decay) * std::cos(m.omega), one_i = std::exp(-m.decay) * std::sin(m.omega);
        double pr = 1.0, pi = 0.0;
        for (unsigned j = 0; j < kBlock; ++j) {
            rot_r_[k * kBlock + j] = float(pr);
            rot_i_[k * kBlock + j] = float(pi);
            const double r = pr * one_r - pi * one_i;
            pi = pr * one_i + pi * one_r;
            pr = r;
        }
        step_r_[k] = pr;
        step_i_[k] = pi;
        end_block_[k] = m.end_block;
    }
    cursor_.active = n;
    while (cursor_.active > 0 && end_block_[cursor_.active - 1] == 0) --cursor_.active;

    const double noise_amplitude = scale * r.noise_level * contact_spectrum(r.noise_center_hz * tau);
    if (r.noise_level > 0 && r.noise_center_hz > 0 && r.noise_center_hz < fs / 2 && noise_amplitude > kSilence) {
        // Band-pass biquad, 0 dB peak gain (RBJ audio EQ cookbook), Q = centre / bandwidth.
        const double w0 = 2 * kPi * r.noise_center_hz / fs;
        const double alpha = std::sin(w0) * r.noise_bandwidth_hz / (2.0 * r.noise_center_hz);
        b0_ = alpha / (1 + alpha);
        a1_ = -2 * std::cos(w0) / (1 + alpha);
        a2_ = (1 - alpha) / (1 + alpha);
        envelope_ = noise_amplitude;
        envelope_step_ = std::exp(-double(r.noise_decay_per_s) / fs);
        noise_end_ = saturating_count(std::ceil(std::log(noise_amplitude / kSilence) / r.noise_decay_per_s * fs));
    }
}

ModeBank Voice::bank() {
    return ModeBank{zr_.data(),     zi_.data(),     step_r_.data(), step_i_.data(),   zrf_.data(),
                    zif_.data(),    rot_r_.data(),  rot_i_.data(),  end_block_.data()};
}

void Voice::render(float *out, size_t frames) {
    const ModeBank modes = bank();
    float block[kBlock];
    size_t done = 0;
    while (done < frames) {
        const unsigned offset = unsigned(position_ % kBlock);
        if (offset == 0 && frames - done >= kBlock) {  // whole blocks straight into out
            const size_t blocks = (frames - done) / kBlock;
            render_blocks(modes, cursor_, out + done, blocks);
            position_ += blocks * kBlock;
            done += blocks * kBlock;
            continue;
        }
        // A block cut by the chunk boundary: computed whole, the state advances once it is used up.
        const size_t take = std::min<size_t>(kBlock - offset, frames - done);
        if (offset + take == kBlock) {
            render_blocks(modes, cursor_, block, 1);
        } else {
            peek_block(modes, cursor_, block);
        }
        std::copy(block + offset, block + offset + take, out + done);
        position_ += take;
        done += take;
    }
    add_noise(out, frames);
}

void Voice::add_noise(float *out, size_t frames) {
    // The filter state lives in locals for the loop, so it stays in registers.
    const uint64_t first = position_ - frames, key = mix64(seed_);
    double x1 = x1_, x2 = x2_, y1 = y1_, y2 = y2_, envelope = envelope_;
    for (size_t i = 0; i < frames; ++i) {
        const uint64_t n = first + i;
        if (n >= noise_end_) break;
        const double x = keyed_uniform(key, n);
        // b1 = 0 and b2 = -b0 for this band-pass; x1 is the previous input. The y1 term is
        // subtracted last: only it waits on the previous sample, so the loop's dependency chain
        // is one multiply and one subtraction instead of two subtractions after the multiply.
        const double y = (b0_ * (x - x2) - a2_ * y2) - a1_ * y1;
        x2 = x1;
        x1 = x;
        y2 = y1;
        y1 = y;
        out[i] += float(envelope * y);
        envelope *= envelope_step_;
    }
    x1_ = x1, x2_ = x2, y1_ = y1, y2_ = y2, envelope_ = envelope;
}

}  // namespace vaf
