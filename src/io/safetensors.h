/*
 * safetensors.h - read-only access to .safetensors files, memory-mapped.
 *
 * Format: u64 little-endian header length N, N bytes of JSON header mapping
 * tensor names to {dtype, shape, data_offsets:[begin,end]} (offsets relative
 * to the end of the header), optional "__metadata__", then the data.
 * Every size and offset is checked against the file: data ranges must lie in
 * the file, match dtype size x product(shape), and not overlap.
 */
#ifndef TRIT_SAFETENSORS_H
#define TRIT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "trit.h"

typedef enum {
    ST_F32, ST_F16, ST_BF16, ST_U8, ST_I8, ST_I16, ST_I32, ST_I64, ST_F64, ST_BOOL, ST_U16, ST_U32, ST_U64,
    ST_F8_E4M3, ST_F8_E5M2, ST_UNKNOWN
} st_dtype;

#define ST_MAX_DIMS 8

typedef struct {
    const char *name;       /* NUL-terminated, owned by the file            */
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data;    /* points into the mapping                      */
    size_t nbytes;
    const char *file;       /* path of the file holding it                  */
    uint64_t file_offset;   /* byte offset of data in that file             */
} st_tensor;

typedef struct st_file st_file;

/* Opens and validates path; the file stays mapped until st_close. */
trit_status st_open(const char *path, st_file **out, trit_error *err);
void st_close(st_file *f);
size_t st_count(const st_file *f);
const st_tensor *st_get(const st_file *f, size_t i);
const st_tensor *st_find(const st_file *f, const char *name);
int64_t st_file_size(const st_file *f);
const char *st_path(const st_file *f);
/* Value of key in the header's "__metadata__" (always strings), or NULL.
 * Owned by f, valid until st_close. */
const char *st_metadata(const st_file *f, const char *key);

const char *st_dtype_name(st_dtype t);
size_t st_dtype_size(st_dtype t); /* 0 for unknown */

/* A model made of one or several safetensors files (sharded checkpoints). */
typedef struct st_set st_set;

/* Opens dir/model.safetensors.index.json (its weight_map) if present, else
 * dir/model.safetensors. Checks that every tensor of the index is found in
 * the named shard and that no tensor name appears twice. */
trit_status st_set_open(const char *dir, st_set **out, trit_error *err);
void st_set_close(st_set *s);
const st_tensor *st_set_find(const st_set *s, const char *name);
size_t st_set_count(const st_set *s);
const st_tensor *st_set_get(const st_set *s, size_t i);
int64_t st_set_bytes(const st_set *s);

/* Converts a tensor of dtype F32/F16/BF16/F64/I8/U8 to float32 (dst has
 * numel floats). Returns 0 for other dtypes. */
int st_to_f32(const st_tensor *t, float *dst);

/* Half-precision helpers. */
float trit_fp16_to_f32(uint16_t h);
float trit_bf16_to_f32(uint16_t h);
uint16_t trit_f32_to_fp16(float f);
uint16_t trit_f32_to_bf16(float f); /* round to nearest even */

/* ---- writing ---- */
typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
    size_t nbytes;
} st_write_tensor;

/* Writes a safetensors file atomically (path.tmp then rename). metadata_json
 * is an optional JSON object text for "__metadata__" (string values only). */
trit_status st_write(const char *path, const st_write_tensor *ts, size_t n,
                     const char *metadata_json, trit_error *err);

#endif /* TRIT_SAFETENSORS_H */
