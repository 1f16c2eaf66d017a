/* C ABI test: links libvaf through vaf/vaf.h alone, as an engine would. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vaf/vaf.h"

static int passed = 0, failed = 0;

#define CHECK(cond)                                                      \
    do {                                                                 \
        if (cond) {                                                      \
            ++passed;                                                    \
        } else {                                                         \
            ++failed;                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                \
    } while (0)

#define FRAMES 4800

static const float freq[3] = {440.0f, 1230.0f, 30000.0f};
static const float decay[3] = {8.0f, 20.0f, 5.0f};
static const float gain[3] = {0.3f, -0.2f, 0.5f};

static vaf_recipe recipe(void) {
    vaf_recipe r;
    r.num_modes = 3;
    r.freq_hz = freq;
    r.decay_per_s = decay;
    r.gain = gain;
    r.noise_center_hz = 3000.0f;
    r.noise_bandwidth_hz = 2000.0f;
    r.noise_level = 0.05f;
    r.noise_decay_per_s = 400.0f;
    return r;
}

static vaf_contact contact(void) {
    vaf_contact c = {0.01f, 1.0f, 2.0e11f, 0.3f, 0.01f, 1.0e10f, 0.3f};
    return c;
}

static vaf_render_options options(void) {
    vaf_render_options o = {48000u, 7u, 0.0f, 1.0f};
    return o;
}

static void test_version(void) {
    CHECK(vaf_version() != NULL && strlen(vaf_version()) > 0);
    CHECK(VAF_ABI_VERSION == 1);
    CHECK(strcmp(vaf_status_string(VAF_ERROR_NOT_FINITE), "not finite") == 0);
}

static void test_render_and_chunks(void) {
    vaf_recipe r = recipe();
    vaf_contact c = contact();
    vaf_render_options o = options();
    static float whole[FRAMES], chunked[FRAMES];
    CHECK(vaf_render_f32(&r, &c, &o, whole, FRAMES) == VAF_OK);
    double energy = 0.0;
    for (int i = 0; i < FRAMES; ++i) energy += (double)whole[i] * whole[i];
    CHECK(energy > 1e-6);

    vaf_voice *voice = NULL;
    CHECK(vaf_voice_create(&r, &c, &o, &voice) == VAF_OK);
    size_t sizes[] = {1, 15, 16, 17, 100, 1000, FRAMES};
    size_t done = 0;
    for (int i = 0; done < FRAMES; ++i) {
        size_t take = sizes[i % 7];
        if (take > FRAMES - done) take = FRAMES - done;
        CHECK(vaf_voice_render_f32(voice, chunked + done, take) == VAF_OK);
        done += take;
    }
    uint64_t position = 0;
    CHECK(vaf_voice_position(voice, &position) == VAF_OK && position == FRAMES);
    CHECK(memcmp(whole, chunked, sizeof whole) == 0);
    vaf_voice_destroy(voice);
}

static void test_s16(void) {
    /* 19 values: two 8-lane blocks and a scalar tail, each holding saturation and products
       v * 32767 that fall exactly half-way (32764.5, 32765.5, 32766.5, 319.5), which round to even. */
    const float in[19] = {2.0f,          -2.0f,          0.5f,          0.0f,           0.9999237060546875f,
                          0.9999542236328125f, 0.9999847412109375f, -0.9999237060546875f,
                          -0.9999542236328125f, 0.009750664234161377f, 1e-9f, -1.0f, 1.0f, 0.25f,
                          0.9999237060546875f, 0.9999542236328125f, -0.9999847412109375f, 3.0f, -0.5f};
    const int16_t expected[19] = {32767, -32767, 16384, 0,      32764, 32766, 32766,  -32764, -32766, 320,
                                  0,     -32767, 32767, 8192,   32764, 32766, -32766, 32767,  -16384};
    int16_t out[19];
    vaf_f32_to_s16(in, out, 19);
    for (int i = 0; i < 19; ++i) CHECK(out[i] == expected[i]);
    for (int i = 0; i < 19; ++i) { /* the same as C's own rint of the separately rounded product */
        const float clamped = in[i] < -1.0f ? -1.0f : in[i] > 1.0f ? 1.0f : in[i];
        const float scaled = clamped * 32767.0f;
        CHECK(out[i] == (int16_t)lrintf(scaled));
    }
}

static void test_bad_input(void) {
    vaf_recipe r = recipe();
    vaf_contact c = contact();
    vaf_render_options o = options();
    float out[16];
    float bad_freq[3] = {440.0f, NAN, 100.0f};
    r.freq_hz = bad_freq;
    CHECK(vaf_render_f32(&r, &c, &o, out, 16) == VAF_ERROR_NOT_FINITE);
    CHECK(strstr(vaf_last_error(), "recipe.freq_hz[1]") != NULL);

    r = recipe();
    float bad_decay[3] = {1.0f, -1.0f, 1.0f};
    r.decay_per_s = bad_decay;
    CHECK(vaf_render_f32(&r, &c, &o, out, 16) == VAF_ERROR_OUT_OF_RANGE);
    CHECK(strstr(vaf_last_error(), "recipe.decay_per_s[1]") != NULL);

    r = recipe();
    c.impulse = -1.0f;
    CHECK(vaf_render_f32(&r, &c, &o, out, 16) == VAF_ERROR_OUT_OF_RANGE);
    CHECK(strstr(vaf_last_error(), "contact.impulse") != NULL);

    c = contact();
    c.speed = INFINITY;
    CHECK(vaf_render_f32(&r, &c, &o, out, 16) == VAF_ERROR_NOT_FINITE);

    c = contact();
    o.sample_rate = 100;
    CHECK(vaf_render_f32(&r, &c, &o, out, 16) == VAF_ERROR_OUT_OF_RANGE);
    CHECK(strstr(vaf_last_error(), "options.sample_rate") != NULL);

    o = options();
    CHECK(vaf_render_f32(NULL, &c, &o, out, 16) == VAF_ERROR_NULL_POINTER);
    vaf_voice *voice = NULL;
    CHECK(vaf_voice_create(&r, &c, &o, NULL) == VAF_ERROR_NULL_POINTER);
    CHECK(vaf_voice_render_f32(voice, out, 16) == VAF_ERROR_NULL_POINTER);
    double seconds = 0.0;
    CHECK(vaf_contact_duration(&c, &seconds) == VAF_OK && seconds > 0.0 && seconds < 0.01);
}

static void test_nyquist(void) {
    /* The 30 kHz mode is above Nyquist at 16 kHz and the noise band too: silence. */
    static const float f[1] = {30000.0f};
    vaf_recipe r = recipe();
    r.num_modes = 1;
    r.freq_hz = f;
    r.noise_level = 0.0f;
    vaf_contact c = contact();
    vaf_render_options o = options();
    o.sample_rate = 16000;
    float out[256];
    CHECK(vaf_render_f32(&r, &c, &o, out, 256) == VAF_OK);
    float peak = 0.0f;
    for (int i = 0; i < 256; ++i) peak = fmaxf(peak, fabsf(out[i]));
    CHECK(peak == 0.0f);
}

static void test_surface_index(void) {
    /* A 5 x 5 x 5 lattice at 0.1 m spacing with point 0 repeated at the end. */
    static float points[3 * 126];
    int n = 0;
    for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 5; ++j)
            for (int k = 0; k < 5; ++k, ++n) {
                points[3 * n] = 0.1f * (float)i;
                points[3 * n + 1] = 0.1f * (float)j;
                points[3 * n + 2] = 0.1f * (float)k;
            }
    memcpy(&points[3 * n], &points[0], 3 * sizeof(float));
    vaf_surface_index *index = NULL;
    CHECK(vaf_surface_index_create(points, 126, &index) == VAF_OK && index != NULL);
    size_t size = 0;
    CHECK(vaf_surface_index_size(index, &size) == VAF_OK && size == 126);

    /* Near lattice point (2, 3, 1) = index 2*25 + 3*5 + 1; then far off the lattice;
       then exactly on point 0, which its copy (125) ties: the lower index wins. */
    const float queries[9] = {0.21f, 0.29f, 0.1f, 2.0f, 0.4f, 0.4f, 0.0f, 0.0f, 0.0f};
    double distance[3];
    uint32_t nearest[3];
    CHECK(vaf_surface_index_nearest(index, queries, 3, 1, distance, nearest) == VAF_OK);
    CHECK(nearest[0] == 66 && fabs(distance[0] - sqrt(2.0) * 0.01) < 1e-6);
    CHECK(nearest[1] == 124 && fabs(distance[1] - 1.6) < 1e-6);
    CHECK(nearest[2] == 0 && distance[2] == 0.0);

    /* The three nearest of the origin: itself and its copy (tied: lower index first), then a neighbour at 0.1 m. */
    double d3[3];
    uint32_t n3[3];
    CHECK(vaf_surface_index_nearest(index, &queries[6], 1, 3, d3, n3) == VAF_OK);
    CHECK(n3[0] == 0 && n3[1] == 125 && d3[1] == 0.0 && fabs(d3[2] - 0.1) < 1e-6);
    CHECK(n3[2] == 1); /* of the three lattice neighbours at 0.1 m (indices 1, 5, 25), the lowest */
    CHECK(vaf_surface_index_nearest(index, queries, 1, 127, d3, n3) == VAF_ERROR_OUT_OF_RANGE);

    /* A NaN query is refused, naming it, and nothing is written. */
    const float bad[6] = {0.0f, 0.0f, 0.0f, 0.1f, NAN, 0.0f};
    distance[0] = -1.0;
    CHECK(vaf_surface_index_nearest(index, bad, 2, 1, distance, nearest) == VAF_ERROR_NOT_FINITE);
    CHECK(strcmp(vaf_last_error(), "queries[1][1] is not finite") == 0);
    CHECK(distance[0] == -1.0);
    vaf_surface_index_destroy(index);

    vaf_surface_index *empty = NULL;
    CHECK(vaf_surface_index_create(points, 0, &empty) == VAF_ERROR_OUT_OF_RANGE && empty == NULL);
    CHECK(vaf_surface_index_create(NULL, 3, &empty) == VAF_ERROR_NULL_POINTER);
    vaf_surface_index_destroy(NULL);
}

int main(void) {
    test_version();
    test_render_and_chunks();
    test_s16();
    test_bad_input();
    test_nyquist();
    test_surface_index();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
