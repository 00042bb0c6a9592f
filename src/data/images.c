/*
 * images.c - decoding (stb_image), resizing (stb_image_resize) and writing
 * (stb_image_write) of uint8 RGB images. Every failure names the file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

#include "data_internal.h"

mtfl_status mtfl_image_alloc(mtfl_image *img, int width, int height, int channels)
{
    img->pixels = NULL;
    if (width <= 0 || height <= 0 || channels <= 0 || channels > 4)
        return mtfl_fail(MTFL_ERR_ARG, "image: bad size %dx%dx%d", width, height, channels);
    img->pixels = calloc((size_t)width * (size_t)height * (size_t)channels, 1);
    if (!img->pixels)
        return mtfl_fail(MTFL_ERR_OOM, "image: out of memory for %dx%dx%d", width, height, channels);
    img->width = width, img->height = height, img->channels = channels;
    return MTFL_OK;
}

void mtfl_image_free(mtfl_image *img)
{
    free(img->pixels);
    img->pixels = NULL;
    img->width = img->height = img->channels = 0;
}

/* Image files larger than this are refused rather than read (MTFL's are 10-300 kB). */
#define IMAGE_MAX_BYTES ((size_t)256 << 20)

/* stb_image 2.27, Debian 12's, trusts a JPEG's Huffman tables: sixteen code counts that
 * add up to more than 256 make it write past its tables (found by tests/fuzz/
 * fuzz_image). So the tables are checked here before stb sees the bytes, walking the
 * markers the way its decoder does: segments by their lengths, and after a
 * start-of-scan the entropy-coded data up to the next marker (0xFF then a byte other
 * than 0 or a restart). Bytes past the end read as 0, as stb reads them. */
static bool jpeg_tables_fit(const uint8_t *p, size_t n)
{
#define BYTE(k) ((k) < n ? p[k] : 0)
    /* stb finds the start of image as any marker: 0xFF, any number of fill bytes 0xFF,
     * then 0xD8; anything else is not a JPEG to it */
    size_t i = 0;
    if (n < 2 || p[0] != 0xFF) return true;
    while (i < n && p[i] == 0xFF) i++;
    if (i >= n || p[i] != 0xD8) return true;
    i++;
    while (i + 1 < n) {
        if (p[i] != 0xFF || p[i + 1] == 0xFF) {   /* junk and fill bytes between markers */
            i++;
            continue;
        }
        uint8_t marker = p[i + 1];
        if (marker == 0xD9) return true;   /* end of image */
        if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
            i += 2;
            continue;
        }
        size_t length = ((size_t)BYTE(i + 2) << 8) | BYTE(i + 3);
        if (marker == 0xC4) {
            long left = (long)length - 2;
            size_t at = i + 4;
            while (left > 0) {
                size_t count = 0;
                for (int k = 1; k <= 16; k++) count += BYTE(at + (size_t)k);
                if (count > 256) return false;
                at += 17 + count;
                left -= 17 + (long)count;
            }
        }
        i += 2 + length;
        if (marker == 0xDA)   /* the scan's coded data runs to the next real marker */
            while (i + 1 < n && !(p[i] == 0xFF && p[i + 1] != 0 && !(p[i + 1] >= 0xD0 && p[i + 1] <= 0xD7)))
                i++;
    }
    return true;
#undef BYTE
}

/* stb's PNG reader grows its buffer to a chunk's declared length before it finds that
 * the file is shorter: 150 bytes claiming a 2 GiB chunk made it ask for 2 GiB (found by
 * tests/fuzz/fuzz_image). So every chunk up to IEND, where stb stops reading, must lie
 * inside the file. */
static bool png_chunks_fit(const uint8_t *p, size_t n)
{
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n < 8 || memcmp(p, signature, 8) != 0) return true;   /* not a PNG */
    for (size_t i = 8; i + 8 <= n;) {
        uint64_t length = (uint64_t)p[i] << 24 | (uint64_t)p[i + 1] << 16 | (uint64_t)p[i + 2] << 8 | p[i + 3];
        if (length + 12 > n - i) return false;   /* length, type, data and CRC */
        if (memcmp(p + i + 4, "IEND", 4) == 0) return true;
        i += 12 + (size_t)length;
    }
    return true;
}

/* The file's bytes, checked as far as stb cannot be trusted to. */
static mtfl_status read_image(const char *path, char **bytes, size_t *len)
{
    if (mtfl_read_file(path, IMAGE_MAX_BYTES, bytes, len))
        return mtfl_fail(MTFL_ERR_IO, "image %s", mtfl_last_error());
    const uint8_t *p = (const uint8_t *)*bytes;
    const char *why = !jpeg_tables_fit(p, *len)  ? "bad Huffman table"
                      : !png_chunks_fit(p, *len) ? "a chunk runs past the end of the file"
                                                 : NULL;
    if (why) {
        free(*bytes);
        *bytes = NULL;
        return mtfl_fail(MTFL_ERR_IO, "image %s: not a readable JPEG or PNG (%s)", path, why);
    }
    return MTFL_OK;
}

mtfl_status mtfl_image_info(const char *path, int *width, int *height, int *channels)
{
    char *bytes;
    size_t len;
    if (read_image(path, &bytes, &len)) return MTFL_ERR_IO;
    int ok = stbi_info_from_memory((const stbi_uc *)bytes, (int)len, width, height, channels);
    free(bytes);
    if (!ok)
        return mtfl_fail(MTFL_ERR_IO, "image %s: not a readable JPEG or PNG (%s)", path,
                         stbi_failure_reason());
    return MTFL_OK;
}

mtfl_status mtfl_image_load(mtfl_image *img, const char *path, int *file_channels)
{
    img->pixels = NULL;
    char *bytes;
    size_t len;
    if (read_image(path, &bytes, &len)) return MTFL_ERR_IO;
    int w, h, comp;
    uint8_t *pixels = stbi_load_from_memory((const stbi_uc *)bytes, (int)len, &w, &h, &comp, 3);
    free(bytes);
    if (!pixels)
        return mtfl_fail(MTFL_ERR_IO, "image %s: cannot decode: %s", path, stbi_failure_reason());
    img->pixels = pixels, img->width = w, img->height = h, img->channels = 3;
    if (file_channels) *file_channels = comp;
    return MTFL_OK;
}

/* Half size by averaging 2x2 blocks (even sizes only, so the geometry stays exact). */
static mtfl_status halve(const mtfl_image *src, mtfl_image *dst)
{
    mtfl_status s = mtfl_image_alloc(dst, src->width / 2, src->height / 2, src->channels);
    if (s) return s;
    size_t c = (size_t)src->channels, stride = (size_t)src->width * c;
    for (int y = 0; y < dst->height; y++) {
        const uint8_t *r0 = src->pixels + (size_t)(2 * y) * stride, *r1 = r0 + stride;
        uint8_t *out = dst->pixels + (size_t)y * (size_t)dst->width * c;
        for (size_t x = 0; x < (size_t)dst->width; x++)
            for (size_t k = 0; k < c; k++) {
                size_t a = 2 * x * c + k;
                out[x * c + k] = (uint8_t)((r0[a] + r0[a + c] + r1[a] + r1[a + c] + 2) / 4);
            }
    }
    return MTFL_OK;
}

static mtfl_status stb_resize(const mtfl_image *src, mtfl_image *dst, int width, int height)
{
    mtfl_status s = mtfl_image_alloc(dst, width, height, src->channels);
    if (s) return s;
    if (width == src->width && height == src->height) {
        /* stb's filters are not interpolating: even at scale 1 they would blur */
        memcpy(dst->pixels, src->pixels, (size_t)width * (size_t)height * (size_t)src->channels);
        return MTFL_OK;
    }
    if (!stbir_resize_uint8(src->pixels, src->width, src->height, 0, dst->pixels, width, height,
                            0, src->channels)) {
        mtfl_image_free(dst);
        return mtfl_fail(MTFL_ERR_OOM, "image: resizing %dx%d to %dx%d failed", src->width,
                         src->height, width, height);
    }
    return MTFL_OK;
}

mtfl_status mtfl_image_resize(const mtfl_image *src, mtfl_image *dst, int width, int height)
{
    /* stb_image_resize costs 2.5 ms for 400x400 -> 150x150, a third of that from 200x200:
     * halving first (exact area averaging) while the image is at least twice the target
     * makes the first load of MTFL seconds faster and looks the same */
    mtfl_image cur = *src, next;
    bool owned = false;
    while (cur.width >= 2 * width && cur.height >= 2 * height && cur.width % 2 == 0 &&
           cur.height % 2 == 0) {
        mtfl_status s = halve(&cur, &next);
        if (owned) mtfl_image_free(&cur);
        if (s) return s;
        cur = next, owned = true;
    }
    mtfl_status s = stb_resize(&cur, dst, width, height);
    if (owned) mtfl_image_free(&cur);
    return s;
}

mtfl_status mtfl_image_luma(const mtfl_image *src, mtfl_image *dst)
{
    if (src->channels < 3) return mtfl_fail(MTFL_ERR_ARG, "image: luma of a %d-channel image", src->channels);
    mtfl_status s = mtfl_image_alloc(dst, src->width, src->height, 1);
    if (s) return s;
    size_t n = (size_t)src->width * (size_t)src->height;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = src->pixels + i * (size_t)src->channels;
        dst->pixels[i] = (uint8_t)((299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u);
    }
    return MTFL_OK;
}

typedef struct {
    FILE *f;
    bool failed;
} write_ctx;

static void write_to_file(void *context, void *data, int size)
{
    write_ctx *w = context;
    if (size > 0 && fwrite(data, 1, (size_t)size, w->f) != (size_t)size) w->failed = true;
}

static bool has_extension(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n > e && strcasecmp(path + n - e, ext) == 0;
}

mtfl_status mtfl_image_save(const mtfl_image *img, const char *path, int quality)
{
    bool png = has_extension(path, ".png");
    bool jpg = has_extension(path, ".jpg") || has_extension(path, ".jpeg");
    if (!png && !jpg) return mtfl_fail(MTFL_ERR_ARG, "image %s: write .png or .jpg", path);
    if (!img->pixels) return mtfl_fail(MTFL_ERR_ARG, "image %s: no pixels to write", path);
    mtfl_atomic_file af;
    if (mtfl_atomic_open(&af, path)) return mtfl_fail(MTFL_ERR_IO, "image %s", mtfl_last_error());
    write_ctx w = {af.stream, false};
    int ok = png ? stbi_write_png_to_func(write_to_file, &w, img->width, img->height,
                                          img->channels, img->pixels, img->width * img->channels)
                 : stbi_write_jpg_to_func(write_to_file, &w, img->width, img->height,
                                          img->channels, img->pixels, quality);
    if (!ok || w.failed) {
        int err = errno;
        mtfl_atomic_abort(&af);
        return mtfl_fail(MTFL_ERR_IO, "image %s: cannot write: %s", path,
                         ok ? strerror(err) : "the encoder failed");
    }
    if (mtfl_atomic_commit(&af)) return mtfl_fail(MTFL_ERR_IO, "image %s", mtfl_last_error());
    return MTFL_OK;
}
