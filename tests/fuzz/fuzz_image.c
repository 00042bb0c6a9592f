/*
 * fuzz_image.c - libFuzzer target for the image decoder: mtfl_image_info (the header
 * read when a dataset is scanned) and mtfl_image_load (the full decode to RGB), then
 * mtfl_image_resize, the next step every image of a dataset goes through.
 *
 * Why: MTFL's 12995 JPEGs come from a download, and any image a user points the
 * pipeline at is decoded by stb_image (compiled in src/data/stb_impl.c with JPEG and
 * PNG only and a 16384-pixel cap a side). A decoder is the classic place for a heap
 * overflow; the resize that follows trusts the decoded width and height.
 *
 * Both entry points take a path, so the input is written to a per-process temp file
 * (fuzz_tempfile.h). Images whose header claims more than MAX_PIXELS are not decoded:
 * a legal 16384x16384 image is 768 MiB of RGB, which would only measure the
 * machine's memory and make libFuzzer report an out-of-memory, not a bug.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_tempfile.h"
#include "mtfl_data.h"

#define MAX_PIXELS (4 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_tempfile_init("input.img");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tempfile_write(data, size);
    if (!path) return 0;

    int w = 0, h = 0, c = 0;
    if (mtfl_image_info(path, &w, &h, &c) != MTFL_OK) return 0;
    if (w <= 0 || h <= 0 || (int64_t)w * h > MAX_PIXELS) return 0;

    mtfl_image img;
    int file_channels = 0;
    if (mtfl_image_load(&img, path, &file_channels) != MTFL_OK) return 0;

    /* Touch the first and last pixel: the buffer must be width x height x 3. */
    volatile uint8_t sink = img.pixels[0];
    sink ^= img.pixels[(size_t)img.width * (size_t)img.height * 3 - 1];
    (void)sink;

    /* An odd target size exercises both the 2x2 halving and stb_image_resize. */
    mtfl_image small;
    if (mtfl_image_resize(&img, &small, 7, 5) == MTFL_OK) mtfl_image_free(&small);
    mtfl_image_free(&img);
    return 0;
}
