/*
 * annotations.c - training.txt and testing.txt as distributed: one face per line,
 *
 *   [blanks] path x1 x2 x3 x4 x5 y1 y2 y3 y4 y5 gender smile glasses pose CR LF
 *
 * with backslashes in the training paths, a space at the start of every line but the
 * first and a lone space after the last line break. Lists of other faces may add a
 * face box (box_x box_y box_width box_height, in the image's pixels) and may give an
 * attribute as 0, the usual "unknown" of datasets without that label. Anything else
 * that is not 15 or 19 well-formed fields is an error naming the file, the line and
 * the problem, and so is an image path that leaves the data folder (absolute, or
 * through "..").
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

#define FIELDS 15
#define BOX_FIELDS 4
#define MAX_FIELDS (FIELDS + BOX_FIELDS)
#define MAX_TOKEN 4096

static const char *const field_names[MAX_FIELDS] = {
    "path", "x1", "x2", "x3", "x4", "x5", "y1", "y2", "y3", "y4", "y5",
    "gender", "smile", "glasses", "pose", "box_x", "box_y", "box_width", "box_height"};

typedef struct {
    const char *start[MAX_FIELDS + 1];
    size_t len[MAX_FIELDS + 1];
    int count;   /* fields found, counting past MAX_FIELDS to report how many there were */
} tokens;

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static void split_line(const char *p, const char *end, tokens *t)
{
    t->count = 0;
    while (p < end) {
        while (p < end && is_blank(*p)) p++;
        if (p == end) break;
        const char *s = p;
        while (p < end && !is_blank(*p)) p++;
        if (t->count <= MAX_FIELDS) t->start[t->count] = s, t->len[t->count] = (size_t)(p - s);
        t->count++;
    }
}

/* A field copied out so that strtof stops at its end, not at the next field. */
static bool field_text(const tokens *t, int i, char *buf, size_t size)
{
    if (t->len[i] >= size) return false;
    memcpy(buf, t->start[i], t->len[i]);
    buf[t->len[i]] = '\0';
    return true;
}

typedef struct {
    const char *file;
    int line;
    char problem[320];
} line_ctx;

static bool bad(line_ctx *c, const char *what, const char *text)
{
    snprintf(c->problem, sizeof c->problem, "%s:%d: %s '%.40s'%s", c->file, c->line,
             what, text, strlen(text) > 40 ? "..." : "");
    return false;
}

static bool too_long(line_ctx *c, const tokens *t, int i)
{
    snprintf(c->problem, sizeof c->problem, "%s:%d: %s is %zu characters long, not a number",
             c->file, c->line, field_names[i], t->len[i]);
    return false;
}

static bool parse_coordinate(line_ctx *c, const tokens *t, int i, float *out)
{
    char buf[64];
    if (!field_text(t, i, buf, sizeof buf)) return too_long(c, t, i);
    char *end;
    errno = 0;
    float v = strtof(buf, &end);
    if (end == buf || end != buf + t->len[i]) { /* a NUL inside the field ends it early */
        snprintf(c->problem, sizeof c->problem, "%s:%d: %s is '%s', not a number", c->file,
                 c->line, field_names[i], buf);
        return false;
    }
    if (!isfinite(v) || errno == ERANGE) {
        snprintf(c->problem, sizeof c->problem, "%s:%d: %s is '%s', not a finite coordinate",
                 c->file, c->line, field_names[i], buf);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_label(line_ctx *c, const tokens *t, int i, int classes, uint8_t *out)
{
    char buf[64];
    if (!field_text(t, i, buf, sizeof buf)) return too_long(c, t, i);
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (end == buf || end != buf + t->len[i] || errno == ERANGE) {
        snprintf(c->problem, sizeof c->problem, "%s:%d: %s is '%s', not an integer label 0..%d",
                 c->file, c->line, field_names[i], buf, classes);
        return false;
    }
    if (v < 0 || v > classes) {   /* 0: unknown */
        snprintf(c->problem, sizeof c->problem, "%s:%d: %s is %ld, out of range 0..%d (0: unknown)", c->file,
                 c->line, field_names[i], v, classes);
        return false;
    }
    *out = (uint8_t)v;
    return true;
}

/* Relative, and no component is "..": the path names a file under the data folder. */
static bool inside_data_folder(const char *path)
{
    if (path[0] == '/') return false;
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') return false;
        p += n + (p[n] == '/');
    }
    return true;
}

/* Fills f from one line's fields; false with c->problem set when the line is bad. */
static bool parse_face(line_ctx *c, const tokens *t, mtfl_face *f)
{
    if (t->count != FIELDS && t->count != MAX_FIELDS) {
        snprintf(c->problem, sizeof c->problem,
                 "%s:%d: %d fields, expected %d (path x1..x5 y1..y5 gender smile glasses pose)"
                 " or %d (the same and box_x box_y box_width box_height)",
                 c->file, c->line, t->count, FIELDS, MAX_FIELDS);
        return false;
    }
    if (memchr(t->start[0], '\0', t->len[0]) || t->len[0] >= MAX_TOKEN) {
        snprintf(c->problem, sizeof c->problem, "%s:%d: the path is not a usable file name",
                 c->file, c->line);
        return false;
    }
    for (int i = 0; i < MTFL_COORDS; i++)
        if (!parse_coordinate(c, t, 1 + i, &f->points[i])) return false;
    for (int a = 0; a < MTFL_ATTRS; a++)
        if (!parse_label(c, t, 1 + MTFL_COORDS + a, mtfl_attr_classes((mtfl_attr)a), &f->attr[a]))
            return false;
    f->has_box = t->count == MAX_FIELDS;
    for (int i = 0; i < BOX_FIELDS; i++) f->box[i] = 0;
    for (int i = 0; f->has_box && i < BOX_FIELDS; i++)
        if (!parse_coordinate(c, t, FIELDS + i, &f->box[i])) return false;
    if (f->has_box && !(f->box[2] >= 1 && f->box[3] >= 1)) {
        snprintf(c->problem, sizeof c->problem, "%s:%d: the face box is %gx%g pixels (at least 1x1)",
                 c->file, c->line, f->box[2], f->box[3]);
        return false;
    }
    f->path = malloc(t->len[0] + 1);
    if (!f->path) {
        snprintf(c->problem, sizeof c->problem, "%s:%d: out of memory", c->file, c->line);
        return false;
    }
    for (size_t i = 0; i < t->len[0]; i++) f->path[i] = t->start[0][i] == '\\' ? '/' : t->start[0][i];
    f->path[t->len[0]] = '\0';
    if (!inside_data_folder(f->path)) {
        bad(c, "the image path leaves the data folder (absolute or through ..):", f->path);
        free(f->path);
        return false;
    }
    f->line = c->line;
    return true;
}

static bool append_face(mtfl_annotations *a, int *cap, const mtfl_face *f)
{
    if (a->count == *cap) {
        int ncap = *cap ? *cap * 2 : 1024;
        mtfl_face *n = realloc(a->faces, (size_t)ncap * sizeof *n);
        if (!n) return false;
        a->faces = n, *cap = ncap;
    }
    a->faces[a->count++] = *f;
    return true;
}

mtfl_status mtfl_annotations_parse(mtfl_annotations *a, const char *name, const char *text,
                                   size_t len, mtfl_on_error on_error)
{
    memset(a, 0, sizeof *a);
    a->file = mtfl_strdup(name);
    if (!a->file) return mtfl_fail(MTFL_ERR_OOM, "%s: out of memory", name);
    const char *p = text, *end = text + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* a BOM some editors add */
    int cap = 0;
    a->confined = true;   /* parse_face refuses paths that leave the folder */
    line_ctx c = {.file = name, .line = 0};
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        c.line++;
        tokens t;
        split_line(p, eol, &t);
        p = nl ? nl + 1 : end;
        if (t.count == 0) continue;   /* blank lines, the trailing space of the files */
        mtfl_face f;
        if (!parse_face(&c, &t, &f)) {
            if (on_error == MTFL_ON_ERROR_STOP) {
                mtfl_annotations_free(a);
                return mtfl_fail(MTFL_ERR_ARG, "%s", c.problem);
            }
            mtfl_problems_add(&a->skipped, "%s", c.problem);
            continue;
        }
        f.file = a->file;
        if (!append_face(a, &cap, &f)) {
            free(f.path);
            mtfl_annotations_free(a);
            return mtfl_fail(MTFL_ERR_OOM, "%s: out of memory at line %d", name, c.line);
        }
    }
    return MTFL_OK;
}

mtfl_status mtfl_annotations_read(mtfl_annotations *a, const char *path, mtfl_on_error on_error)
{
    memset(a, 0, sizeof *a);
    char *text;
    size_t len;
    mtfl_status s = mtfl_read_file(path, MTFL_ANNOTATIONS_MAX_BYTES, &text, &len);
    if (s) return s;
    s = mtfl_annotations_parse(a, path, text, len, on_error);
    free(text);
    return s;
}

void mtfl_annotations_free(mtfl_annotations *a)
{
    for (int i = 0; i < a->count; i++) free(a->faces[i].path);
    free(a->faces);
    free(a->file);
    memset(a, 0, sizeof *a);
}
