/*
 * fuzz_annotations.c - libFuzzer target for the MTFL annotation parser.
 *
 * Why: training.txt and testing.txt come from a download (scripts/get-mtfl.sh) and
 * are the first thing every run reads. mtfl_annotations_parse splits lines and fields
 * by hand, copies fields into fixed buffers for strtof/strtol and grows the face array
 * as it goes: an off-by-one there reads or writes out of bounds on a hostile or merely
 * damaged file. The input is given to the parser as the file's bytes (not
 * NUL-terminated, so reads past the end are caught by ASan), once with each on_error
 * mode: MTFL_ON_ERROR_STOP frees what it built on the first bad line, MTFL_ON_ERROR_SKIP
 * keeps going and records problems. Both results are walked and freed here, so
 * LeakSanitizer notices anything the parser forgets to free.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtfl_data.h"

/* Touches every field of every face, so ASan checks what the parser handed out. */
static void walk(const mtfl_annotations *a)
{
    volatile size_t sink = 0;
    for (int i = 0; i < a->count; i++) {
        const mtfl_face *f = &a->faces[i];
        sink += strlen(f->path) + (size_t)f->line;
        for (int k = 0; k < MTFL_COORDS; k++) sink += (size_t)(f->points[k] != 0.0f);
        for (int k = 0; k < MTFL_ATTRS; k++) sink += f->attr[k];
    }
    for (int i = 0; i < a->skipped.kept && i < MTFL_PROBLEMS_KEPT; i++)
        sink += strnlen(a->skipped.message[i], sizeof a->skipped.message[i]);
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy: the parser gets no terminator, and ASan flags any read past
     * the end (libFuzzer's own buffer is exact-size too; this keeps it so if that
     * ever changes). */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);

    const mtfl_on_error modes[] = {MTFL_ON_ERROR_STOP, MTFL_ON_ERROR_SKIP};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        mtfl_annotations a;
        if (mtfl_annotations_parse(&a, "fuzz.txt", text, size, modes[m]) == MTFL_OK) walk(&a);
        /* On failure the parser has freed and zeroed a already; freeing again must be
         * harmless (it is what callers that free unconditionally do). */
        mtfl_annotations_free(&a);
    }
    free(text);
    return 0;
}
