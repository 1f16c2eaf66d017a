// Impact synthesizer core: recipe validation, Hertz contact excitation and the
// block-recursive modal renderer behind the C ABI and the Python module.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vaf/vaf.h"

namespace vaf {

// Samples per render block. Mode states advance once per block, so any split of
// a render into chunks computes the same blocks with the same operations.
constexpr unsigned kBlock = 16;
// A mode stops being rendered once its envelope is below this absolute amplitude
// (-140 dBFS, far under the int16 step of 3e-5).
constexpr double kSilence = 1e-7;

struct Error {
    vaf_status status = VAF_OK;
    std::string message;
};

// Checks every field; on failure returns the status and a message naming the field.
Error validate(const vaf_recipe &recipe, const vaf_contact &contact,
               const vaf_render_options &options);
Error validate_contact(const vaf_contact &contact);

// Hertz contact duration of a sphere of effective mass impulse/speed: seconds.
double contact_duration(const vaf_contact &contact);
// Magnitude of the half-sine force spectrum at frequency*duration, 1 at DC.
double contact_spectrum(double freq_times_duration);

// Per-mode arrays of a voice, sorted by end block (longest-ringing first, so the modes
// still sounding are always a prefix): state at the current block start (double, so
// the recursion over thousands of blocks does not drift) and its float copy, the
// per-block rotation, and the within-block rotations (kBlock floats per mode).
struct ModeBank {
    double *zr, *zi;
    const double *step_r, *step_i;
    float *zrf, *zif;
    const float *rot_r, *rot_i;
    const uint64_t *end_block;
};

struct BlockCursor {
    uint64_t block = 0;  // block whose start state the bank holds
    size_t active = 0;   // modes [0, active) still sound in this block
};

// Renders `blocks` whole blocks into out and advances the cursor.
void render_blocks(const ModeBank &modes, BlockCursor &cursor, float *out, size_t blocks);
// Computes the cursor's block into block[kBlock] without advancing.
void peek_block(const ModeBank &modes, const BlockCursor &cursor, float *block);

class Voice {
public:
    // Inputs must have passed validate().
    Voice(const vaf_recipe &recipe, const vaf_contact &contact, const vaf_render_options &options);
    void render(float *out, size_t frames);
    uint64_t position() const { return position_; }

private:
    ModeBank bank();
    void add_noise(float *out, size_t frames);

    uint64_t position_ = 0;  // next sample to render
    BlockCursor cursor_;
    // The arrays behind bank(), see ModeBank.
    std::vector<double> zr_, zi_, step_r_, step_i_;
    std::vector<float> zrf_, zif_, rot_r_, rot_i_;
    std::vector<uint64_t> end_block_;
    // Transient: white noise (counter-based, so chunking cannot change it) through
    // a band-pass biquad, times a decaying envelope.
    uint64_t seed_ = 0;
    uint64_t noise_end_ = 0;
    double b0_ = 0, a1_ = 0, a2_ = 0;
    double x1_ = 0, x2_ = 0, y1_ = 0, y2_ = 0;
    double envelope_ = 0, envelope_step_ = 0;
};

// Uniform number in [-1, 1) from a counter; the same on every platform.
float hash_uniform(uint64_t seed, uint64_t counter);

}  // namespace vaf
