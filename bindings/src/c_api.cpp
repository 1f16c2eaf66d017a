// The C ABI of vaf.h over the C++ core: null checks, validation, error strings.
#include <cstdint>
#include <new>
#include <string>
#include <vector>

#include "impact_synth.hpp"
#include "pcm_format.hpp"
#include "surface_index.hpp"
#include "vaf/vaf.h"

#ifndef VAF_VERSION_STRING
#define VAF_VERSION_STRING "0.0.0"
#endif

struct vaf_voice {
    vaf::Voice voice;
};

struct vaf_surface_index {
    vaf::SurfaceIndex index;
};

namespace {

thread_local std::string last_error;

vaf_status report(const vaf::Error &e) {
    last_error = e.message;
    return e.status;
}

vaf_status null_pointer(const char *name) {
    return report({VAF_ERROR_NULL_POINTER, std::string(name) + " is NULL"});
}

}  // namespace

extern "C" {

const char *vaf_version(void) { return VAF_VERSION_STRING; }

const char *vaf_status_string(vaf_status status) {
    switch (status) {
        case VAF_OK: return "ok";
        case VAF_ERROR_NULL_POINTER: return "null pointer";
        case VAF_ERROR_NOT_FINITE: return "not finite";
        case VAF_ERROR_OUT_OF_RANGE: return "out of range";
        case VAF_ERROR_OUT_OF_MEMORY: return "out of memory";
    }
    return "unknown status";
}

const char *vaf_last_error(void) { return last_error.c_str(); }

vaf_status vaf_contact_duration(const vaf_contact *contact, double *seconds) {
    if (!contact) return null_pointer("contact");
    if (!seconds) return null_pointer("seconds");
    vaf::Error e = vaf::validate_contact(*contact);
    if (e.status != VAF_OK) return report(e);
    *seconds = vaf::contact_duration(*contact);
    return VAF_OK;
}

vaf_status vaf_voice_create(const vaf_recipe *recipe, const vaf_contact *contact,
                            const vaf_render_options *options, vaf_voice **voice) {
    if (!recipe) return null_pointer("recipe");
    if (!contact) return null_pointer("contact");
    if (!options) return null_pointer("options");
    if (!voice) return null_pointer("voice");
    vaf::Error e = vaf::validate(*recipe, *contact, *options);
    if (e.status != VAF_OK) return report(e);
    try {
        *voice = new vaf_voice{vaf::Voice(*recipe, *contact, *options)};
    } catch (const std::bad_alloc &) {
        return report({VAF_ERROR_OUT_OF_MEMORY, "out of memory creating a voice"});
    }
    return VAF_OK;
}

vaf_status vaf_voice_render_f32(vaf_voice *voice, float *out, size_t frames) {
    if (!voice) return null_pointer("voice");
    if (!out && frames > 0) return null_pointer("out");
    voice->voice.render(out, frames);
    return VAF_OK;
}

vaf_status vaf_voice_render_s16(vaf_voice *voice, int16_t *out, size_t frames) {
    if (!voice) return null_pointer("voice");
    if (!out && frames > 0) return null_pointer("out");
    float tile[256];
    for (size_t done = 0; done < frames;) {
        const size_t take = frames - done < 256 ? frames - done : 256;
        voice->voice.render(tile, take);
        vaf::to_s16(tile, out + done, take);
        done += take;
    }
    return VAF_OK;
}

vaf_status vaf_voice_position(const vaf_voice *voice, uint64_t *position) {
    if (!voice) return null_pointer("voice");
    if (!position) return null_pointer("position");
    *position = voice->voice.position();
    return VAF_OK;
}

void vaf_voice_destroy(vaf_voice *voice) { delete voice; }

void vaf_f32_to_s16(const float *in, int16_t *out, size_t count) {
    if (in && out) vaf::to_s16(in, out, count);
}

vaf_status vaf_render_f32(const vaf_recipe *recipe, const vaf_contact *contact, const vaf_render_options *options,
                          float *out, size_t frames) {
    return vaf_render_batch_f32(1, recipe, contact, options, out, frames);
}

vaf_status vaf_render_batch_f32(size_t count, const vaf_recipe *recipes, const vaf_contact *contacts,
                                const vaf_render_options *options, float *out, size_t frames) {
    if (count == 0) return VAF_OK;
    if (!recipes) return null_pointer("recipes");
    if (!contacts) return null_pointer("contacts");
    if (!options) return null_pointer("options");
    if (!out && frames > 0) return null_pointer("out");
    for (size_t i = 0; i < count; ++i) {
        vaf::Error e = vaf::validate(recipes[i], contacts[i], options[i]);
        if (e.status != VAF_OK) {
            if (count > 1) e.message = "voice " + std::to_string(i) + ": " + e.message;
            return report(e);
        }
    }
    try {
        for (size_t i = 0; i < count; ++i) vaf::Voice(recipes[i], contacts[i], options[i]).render(out + i * frames, frames);
    } catch (const std::bad_alloc &) {
        return report({VAF_ERROR_OUT_OF_MEMORY, "out of memory rendering a batch"});
    }
    return VAF_OK;
}

vaf_status vaf_surface_index_create(const float *points, size_t count, vaf_surface_index **index) {
    if (!points) return null_pointer("points");
    if (!index) return null_pointer("index");
    if (count == 0 || count >= size_t(UINT32_MAX))
        return report({VAF_ERROR_OUT_OF_RANGE, "points: count = " + std::to_string(count) + " must be in [1, 2^32 - 1)"});
    vaf::Error e = vaf::validate_points(points, count, "points");
    if (e.status != VAF_OK) return report(e);
    try {
        *index = new vaf_surface_index{vaf::SurfaceIndex(points, count)};
    } catch (const std::bad_alloc &) {
        return report({VAF_ERROR_OUT_OF_MEMORY, "out of memory building a surface index"});
    }
    return VAF_OK;
}

vaf_status vaf_surface_index_nearest(const vaf_surface_index *index, const float *queries, size_t count, size_t k,
                                     double *distance, uint32_t *nearest) {
    if (!index) return null_pointer("index");
    if (k == 0 || k > index->index.size())
        return report({VAF_ERROR_OUT_OF_RANGE, "k = " + std::to_string(k) + " must be in [1, " +
                                                   std::to_string(index->index.size()) + "] (the points indexed)"});
    if (count == 0) return VAF_OK;
    if (!queries) return null_pointer("queries");
    if (!distance) return null_pointer("distance");
    if (!nearest) return null_pointer("nearest");
    vaf::Error e = vaf::validate_points(queries, count, "queries");
    if (e.status != VAF_OK) return report(e);
    try {
        for (size_t i = 0; i < count; ++i) index->index.nearest(queries + 3 * i, k, distance + i * k, nearest + i * k);
    } catch (const std::bad_alloc &) {
        return report({VAF_ERROR_OUT_OF_MEMORY, "out of memory ranking " + std::to_string(k) + " neighbours"});
    }
    return VAF_OK;
}

vaf_status vaf_surface_index_size(const vaf_surface_index *index, size_t *count) {
    if (!index) return null_pointer("index");
    if (!count) return null_pointer("count");
    *count = index->index.size();
    return VAF_OK;
}

void vaf_surface_index_destroy(vaf_surface_index *index) { delete index; }

}  // extern "C"
