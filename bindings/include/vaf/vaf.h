/*
 * VAF Bridge native core: the real-time impact synthesizer behind a plain C ABI,
 * and the surface index that finds where on a scene a contact landed.
 *
 * An impact sound is an *impact recipe* (a bank of damped modes plus a short
 * band-passed noise burst for the contact transient) excited by a *contact*
 * (impulse, relative speed, striker and target hardness). The contact sets the
 * Hertz contact duration, which low-passes the mode gains: harder and faster
 * hits are brighter, larger impulses are louder (amplitude is proportional to
 * the impulse; see docs/native.md for the law).
 *
 * Conventions
 *   - Units: hertz, seconds, newton-seconds, metres per second, pascals, metres.
 *   - Audio is mono. Output buffers are owned by the caller.
 *   - Every function returns a vaf_status; VAF_OK is 0. On failure nothing is
 *     written to the output and vaf_last_error() describes the bad field.
 *   - Thread safety: all functions are reentrant. A vaf_voice must not be used
 *     from two threads at once; distinct voices may be rendered in parallel.
 *     vaf_last_error() is per thread.
 *   - Memory: vaf_voice_create and vaf_surface_index_create allocate; rendering
 *     never allocates, nor do surface queries of up to 16 neighbours.
 */
#ifndef VAF_VAF_H
#define VAF_VAF_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(VAF_BUILDING_LIBRARY)
#    define VAF_API __declspec(dllexport)
#  else
#    define VAF_API __declspec(dllimport)
#  endif
#else
#  define VAF_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Version of this C ABI; bumped on any incompatible change. */
#define VAF_ABI_VERSION 1
/** Largest number of modes a recipe may carry. */
#define VAF_MAX_MODES 1024
/** Supported sample rates, inclusive, in hertz. */
#define VAF_MIN_SAMPLE_RATE 8000
#define VAF_MAX_SAMPLE_RATE 192000

typedef enum vaf_status {
    VAF_OK = 0,
    VAF_ERROR_NULL_POINTER = 1,     /* a required pointer was NULL */
    VAF_ERROR_NOT_FINITE = 2,       /* a NaN or infinite number */
    VAF_ERROR_OUT_OF_RANGE = 3,     /* negative, zero where positive is needed, or above a limit */
    VAF_ERROR_OUT_OF_MEMORY = 4
} vaf_status;

/** A bank of damped modes plus a transient noise burst. Arrays hold num_modes entries. */
typedef struct vaf_recipe {
    uint32_t num_modes;            /* 0..VAF_MAX_MODES */
    const float *freq_hz;          /* >= 0; modes at or above Nyquist are dropped */
    const float *decay_per_s;      /* >= 0; envelope exp(-decay * t) */
    const float *gain;             /* signed amplitude per N*s of impulse (sign is the mode-shape phase) */
    float noise_center_hz;         /* >= 0; band centre of the transient; at or above Nyquist: no noise */
    float noise_bandwidth_hz;      /* > 0 when noise_level > 0 */
    float noise_level;             /* >= 0; amplitude per N*s of impulse */
    float noise_decay_per_s;       /* > 0 when noise_level > 0 */
} vaf_recipe;

/** The contact that excites a recipe. */
typedef struct vaf_contact {
    float impulse;                 /* N*s, > 0 */
    float speed;                   /* relative normal speed, m/s, > 0 */
    float striker_modulus;         /* Young's modulus of the striker, Pa, > 0 */
    float striker_poisson;         /* 0 <= nu < 0.5 */
    float striker_radius;          /* radius of curvature at the contact, m, > 0 */
    float target_modulus;          /* Young's modulus of the struck surface, Pa, > 0 */
    float target_poisson;          /* 0 <= nu < 0.5 */
} vaf_contact;

typedef struct vaf_render_options {
    uint32_t sample_rate;          /* VAF_MIN_SAMPLE_RATE..VAF_MAX_SAMPLE_RATE */
    uint64_t seed;                 /* seeds the noise burst and the detuning */
    float detune;                  /* 0..0.1: each mode frequency is scaled by 1 + detune * u, u in [-1, 1) from the seed */
    float gain;                    /* >= 0, output scale applied to everything */
} vaf_render_options;

/** A voice: a recipe being rendered, in one call or in consecutive chunks. */
typedef struct vaf_voice vaf_voice;

/** Library version string, e.g. "0.1.0". Never NULL. */
VAF_API const char *vaf_version(void);
/** Short English name of a status, e.g. "out of range". Never NULL. */
VAF_API const char *vaf_status_string(vaf_status status);
/** Message of the last failure on this thread, naming the field, e.g. "recipe.freq_hz[3] is NaN". */
VAF_API const char *vaf_last_error(void);

/** Hertz contact duration in seconds for a contact (half-sine force pulse). */
VAF_API vaf_status vaf_contact_duration(const vaf_contact *contact, double *seconds);

/** Validates everything and prepares a voice at sample 0. The inputs may be freed afterwards. */
VAF_API vaf_status vaf_voice_create(const vaf_recipe *recipe, const vaf_contact *contact,
                                    const vaf_render_options *options, vaf_voice **voice);
/** Renders the next `frames` samples. Consecutive chunks equal one call bit for bit. */
VAF_API vaf_status vaf_voice_render_f32(vaf_voice *voice, float *out, size_t frames);
/** As vaf_voice_render_f32, converted to int16 with saturation (full scale 1.0 -> 32767). */
VAF_API vaf_status vaf_voice_render_s16(vaf_voice *voice, int16_t *out, size_t frames);
/** Index of the next sample the voice will render. */
VAF_API vaf_status vaf_voice_position(const vaf_voice *voice, uint64_t *position);
/** Frees a voice; NULL is ignored. */
VAF_API void vaf_voice_destroy(vaf_voice *voice);

/** Converts float samples to int16 with saturation: rint(clamp(x, -1, 1) * 32767), ties to even. */
VAF_API void vaf_f32_to_s16(const float *in, int16_t *out, size_t count);

/** One-shot render of `frames` samples from sample 0. */
VAF_API vaf_status vaf_render_f32(const vaf_recipe *recipe, const vaf_contact *contact,
                                  const vaf_render_options *options, float *out, size_t frames);

/**
 * Renders `count` voices of `frames` samples each into out[i * frames ...] (one game frame's
 * contacts in one call). recipes, contacts and options are arrays of `count` entries. All inputs
 * are validated before anything is rendered; the error message names the voice index.
 */
VAF_API vaf_status vaf_render_batch_f32(size_t count, const vaf_recipe *recipes,
                                        const vaf_contact *contacts,
                                        const vaf_render_options *options,
                                        float *out, size_t frames);

/**
 * A surface index: nearest-point queries over a scene's surface samples (a static kd-tree).
 * Read-only once built, so one index may be queried from many threads at once.
 */
typedef struct vaf_surface_index vaf_surface_index;

/**
 * Builds an index over `count` points, points[3 * i .. 3 * i + 2] = (x, y, z) of point i, in
 * metres. 1 <= count < 2^32; every coordinate finite. The points are copied.
 */
VAF_API vaf_status vaf_surface_index_create(const float *points, size_t count, vaf_surface_index **index);
/**
 * For each of `count` query points (x, y, z triples, finite): the `k` nearest indexed points
 * (1 <= k <= the index's size), nearest first: distance[i * k + j] in metres and nearest[i * k + j]
 * the index of query i's j-th nearest point. Points are ranked by distance, then index, so among
 * equally near points the lower index comes first. Every query is validated before anything is
 * written. Up to 16 neighbours a query allocates nothing.
 */
VAF_API vaf_status vaf_surface_index_nearest(const vaf_surface_index *index, const float *queries, size_t count,
                                             size_t k, double *distance, uint32_t *nearest);
/** Number of points in the index. */
VAF_API vaf_status vaf_surface_index_size(const vaf_surface_index *index, size_t *count);
/** Frees an index; NULL is ignored. */
VAF_API void vaf_surface_index_destroy(vaf_surface_index *index);

#ifdef __cplusplus
}
#endif

#endif /* VAF_VAF_H */
