/*
 * test_data.c - the data pipeline in C: the annotation reader on every kind of bad
 * line, image decoding and its errors, transforms that keep landmarks on their facial
 * points, metrics against hand-computed values, the cache, the loader's determinism,
 * synthetic faces, and the protocols' counts on the real MTFL files when present.
 */
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtfl_data.h"
#include "test_util.h"

/* ---- helpers ------------------------------------------------------------------------ */

static void expect_error(const char *want)
{
    cr_expect(strstr(mtfl_last_error(), want) != NULL, "error \"%s\" does not mention \"%s\"",
              mtfl_last_error(), want);
}

static char *temp_dir(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/mtfl-test-data-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc(*len + 1);
    cr_assert_eq(fread(data, 1, *len, f), *len);
    fclose(f);
    return data;
}

static void remove_tree(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

/* One annotation line in the distributed format for synthetic face i. */
static void face_line(char *out, size_t size, const char *path, const float *p, const uint8_t *a)
{
    snprintf(out, size, "%s %f %f %f %f %f %f %f %f %f %f %d %d %d %d", path, p[0], p[1], p[2], p[3],
             p[4], p[5], p[6], p[7], p[8], p[9], a[0], a[1], a[2], a[3]);
}

/* dir/training.txt and dir/testing.txt with n synthetic faces each (PNG, size x size),
 * lines as distributed: CRLF, a space before every line but the first, backslashes. */
static void write_synthetic_mtfl(const char *dir, int n, int size)
{
    const char *files[2] = {"training.txt", "testing.txt"}, *folders[2] = {"train", "test"};
    for (int f = 0; f < 2; f++) {
        char path[512], text[200000] = "", line[2048];
        snprintf(path, sizeof path, "%s/%s", dir, folders[f]);
        mkdir(path, 0777);
        for (int i = 0; i < n; i++) {
            mtfl_image img;
            float p[10];
            uint8_t a[4];
            CHECK_OK(mtfl_image_alloc(&img, size, size, 3));
            CHECK_OK(mtfl_synth_face(7 + (uint64_t)f, (uint64_t)i, size, img.pixels, p, a));
            snprintf(path, sizeof path, "%s/%s/%03d.png", dir, folders[f], i);
            CHECK_OK(mtfl_image_save(&img, path, 95));
            mtfl_image_free(&img);
            snprintf(path, sizeof path, "%s\\%03d.png", folders[f], i);
            face_line(line, sizeof line, path, p, a);
            strcat(text, i ? " " : "");
            strcat(text, line);
            strcat(text, "\r\n");
        }
        strcat(text, " ");
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        write_text(path, text);
    }
}

/* ---- annotations -------------------------------------------------------------------- */

static const char distributed[] =
    "lfw_5590\\Aaron_Eckhart_0001.jpg 107.250000 147.750000 126.250000 106.250000 140.750000 "
    "108.750000 113.250000 143.750000 158.750000 162.750000 1 2 2 3\r\n"
    " AFLW/0002-image04733.jpg 43.5 89.4 85.9 56.0 97.5 53.7 42.6 77.5 101.3 90.8 2 1 2 4\r\n ";

Test(annotations, reads_the_distributed_format)
{
    mtfl_annotations a;
    CHECK_OK(mtfl_annotations_parse(&a, "training.txt", distributed, strlen(distributed), MTFL_ON_ERROR_STOP));
    cr_assert_eq(a.count, 2);
    cr_expect_str_eq(a.faces[0].path, "lfw_5590/Aaron_Eckhart_0001.jpg");
    cr_expect_str_eq(a.faces[1].path, "AFLW/0002-image04733.jpg");
    cr_expect_float_eq(a.faces[0].points[0], 107.25f, 1e-6);
    cr_expect_float_eq(a.faces[0].points[9], 162.75f, 1e-6);
    cr_expect(a.faces[0].attr[MTFL_GENDER] == 1 && a.faces[0].attr[MTFL_SMILE] == 2 &&
              a.faces[0].attr[MTFL_GLASSES] == 2 && a.faces[0].attr[MTFL_POSE] == 3);
    cr_expect_eq(a.faces[1].line, 2);
    cr_expect_eq(a.faces[1].attr[MTFL_POSE], 4);
    mtfl_annotations_free(&a);
}

/* Line 2 of each text is bad; the message must name the file, the line and this. */
static const struct { const char *line; const char *problem; } bad_lines[] = {
    {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1", "14 fields, expected 15"},
    {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 3 7", "16 fields, expected 15"},
    {"a.jpg", "1 fields, expected 15"},
    {"a.jpg 1 2 x3 4 5 6 7 8 9 10 1 1 1 3", "x3 is 'x3', not a number"},
    {"a.jpg 1 2 3 4 5 6 7 8 9 1e99 1 1 1 3", "y5 is '1e99', not a finite coordinate"},
    {"a.jpg 1 2 3 4 5 6 nan 8 9 10 1 1 1 3", "y2 is 'nan', not a finite coordinate"},
    {"a.jpg 1 2 3 4 5 6 7 8 9 10 3 1 1 3", "gender is 3, out of range 0..2"},
    {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 -2 1 3", "smile is -2, out of range 0..2 (0: unknown)"},
    {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 -1 3", "glasses is -1, out of range 0..2"},
    {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 6", "pose is 6, out of range 0..5"},
    {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 2.5", "pose is '2.5', not an integer label 0..5"},
    {"a.jpg 1 2 3 4 5 6 7 8 9 10 male 1 1 3", "gender is 'male', not an integer label 0..2"},
};

Test(annotations, every_malformed_line_names_file_line_and_problem)
{
    for (size_t k = 0; k < sizeof bad_lines / sizeof bad_lines[0]; k++) {
        char text[512];
        snprintf(text, sizeof text, "ok.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 3\r\n %s\r\n", bad_lines[k].line);
        mtfl_annotations a;
        cr_expect_eq(mtfl_annotations_parse(&a, "my.txt", text, strlen(text), MTFL_ON_ERROR_STOP), MTFL_ERR_ARG,
                     "case %zu accepted", k);
        expect_error("my.txt:2: ");
        expect_error(bad_lines[k].problem);
        cr_expect_eq(a.faces, NULL);
        /* skipping: the good line stays, the bad one is counted with its message */
        CHECK_OK(mtfl_annotations_parse(&a, "my.txt", text, strlen(text), MTFL_ON_ERROR_SKIP));
        cr_expect_eq(a.count, 1);
        cr_expect_eq(a.skipped.count, 1);
        cr_expect(strstr(a.skipped.message[0], bad_lines[k].problem) != NULL, "%s", a.skipped.message[0]);
        mtfl_annotations_free(&a);
    }
}

Test(annotations, a_nul_byte_inside_a_field_is_caught)
{
    const char text[] = "a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 3\n"
                        "b.jpg 1 2 3 4 5 6 7 8 9 10\0x 1 1 1 3\n";
    mtfl_annotations a;
    cr_expect_eq(mtfl_annotations_parse(&a, "n.txt", text, sizeof text - 1, MTFL_ON_ERROR_STOP), MTFL_ERR_ARG);
    expect_error("n.txt:2: y5 is '10', not a number");
}

Test(annotations, missing_file_is_an_io_error_naming_it)
{
    mtfl_annotations a;
    cr_expect_eq(mtfl_annotations_read(&a, "/nonexistent/training.txt", MTFL_ON_ERROR_STOP), MTFL_ERR_IO);
    expect_error("/nonexistent/training.txt: cannot open");
}

/* ---- images -------------------------------------------------------------------------- */

Test(images, png_and_jpeg_round_trip_and_gray_is_detected)
{
    char *dir = temp_dir(), path[256];
    mtfl_image img, back, gray;
    CHECK_OK(mtfl_image_alloc(&img, 40, 30, 3));
    for (int i = 0; i < 40 * 30 * 3; i++) img.pixels[i] = (uint8_t)(i * 7);
    snprintf(path, sizeof path, "%s/a.png", dir);
    CHECK_OK(mtfl_image_save(&img, path, 95));
    int w, h, c;
    CHECK_OK(mtfl_image_info(path, &w, &h, &c));
    cr_expect(w == 40 && h == 30 && c == 3);
    CHECK_OK(mtfl_image_load(&back, path, &c));
    cr_expect_eq(memcmp(back.pixels, img.pixels, 40 * 30 * 3), 0, "PNG is lossless");
    mtfl_image_free(&back);
    CHECK_OK(mtfl_image_luma(&img, &gray));
    snprintf(path, sizeof path, "%s/g.png", dir);
    CHECK_OK(mtfl_image_save(&gray, path, 95));
    CHECK_OK(mtfl_image_load(&back, path, &c));
    cr_expect_eq(c, 1, "a one-channel PNG is reported as grayscale");
    cr_expect_eq(back.channels, 3, "and expanded to RGB");
    cr_expect(back.pixels[0] == back.pixels[1] && back.pixels[1] == back.pixels[2]);
    mtfl_image_free(&back);
    snprintf(path, sizeof path, "%s/a.jpg", dir);
    CHECK_OK(mtfl_image_save(&img, path, 90));
    CHECK_OK(mtfl_image_info(path, &w, &h, &c));
    cr_expect(w == 40 && h == 30 && c == 3);
    mtfl_image_free(&img), mtfl_image_free(&gray);
    remove_tree(dir);
}

Test(images, missing_and_undecodable_files_name_their_path)
{
    char *dir = temp_dir(), path[256];
    mtfl_image img;
    snprintf(path, sizeof path, "%s/none.jpg", dir);
    cr_expect_eq(mtfl_image_load(&img, path, NULL), MTFL_ERR_IO);
    expect_error(path);
    expect_error("cannot open");
    snprintf(path, sizeof path, "%s/junk.jpg", dir);
    write_text(path, "\xff\xd8\xff this is not a JPEG at all");
    cr_expect_eq(mtfl_image_load(&img, path, NULL), MTFL_ERR_IO);
    expect_error(path);
    int w, h, c;
    cr_expect_eq(mtfl_image_info(path, &w, &h, &c), MTFL_ERR_IO);
    expect_error(path);
    remove_tree(dir);
}

Test(images, resize_keeps_same_size_exact_and_halves_by_averaging)
{
    mtfl_image img, out;
    CHECK_OK(mtfl_image_alloc(&img, 8, 8, 3));
    for (int i = 0; i < 8 * 8 * 3; i++) img.pixels[i] = (uint8_t)(i % 251);
    CHECK_OK(mtfl_image_resize(&img, &out, 8, 8));
    cr_expect_eq(memcmp(out.pixels, img.pixels, 8 * 8 * 3), 0);
    mtfl_image_free(&out);
    memset(img.pixels, 0, 8 * 8 * 3);
    img.pixels[0] = 200;   /* one bright pixel: a quarter of it in the 2x2 block's mean */
    CHECK_OK(mtfl_image_resize(&img, &out, 4, 4));
    cr_expect_eq(out.pixels[0], 50);
    cr_expect_eq(out.pixels[3], 0);
    mtfl_image_free(&out), mtfl_image_free(&img);
}

/* ---- transforms ---------------------------------------------------------------------- */

Test(transforms, mirror_twice_is_the_identity_and_swaps_sides)
{
    const float p[10] = {30, 70, 50, 35, 66, 40, 41, 60, 80, 79};
    float once[10], twice[10];
    mtfl_mirror_points(p, 100, once);
    cr_expect_float_eq(once[0], 30.0f, 1e-5, "the new left eye is the old right eye, mirrored");
    cr_expect_float_eq(once[1], 70.0f, 1e-5);
    cr_expect_float_eq(once[5], 41.0f, 1e-5, "and keeps that eye's height");
    cr_expect_float_eq(once[2], 50.0f, 1e-5, "the nose stays the nose");
    cr_expect_float_eq(once[3], 34.0f, 1e-5);
    mtfl_mirror_points(once, 100, twice);
    for (int k = 0; k < 10; k++) cr_expect_float_eq(twice[k], p[k], 1e-5);
    for (int pose = 1; pose <= 5; pose++) cr_expect_eq(mtfl_mirror_pose(mtfl_mirror_pose(pose)), pose);
    cr_expect(mtfl_mirror_pose(1) == 5 && mtfl_mirror_pose(2) == 4 && mtfl_mirror_pose(3) == 3);
}

Test(transforms, translation_moves_points_and_pixels_exactly)
{
    const float box[4] = {0, 0, 20, 20}, p[10] = {5, 12, 8, 6, 11, 6, 6, 10, 14, 14};
    mtfl_jitter j = mtfl_jitter_none();
    j.translate = 3;
    mtfl_view v = mtfl_view_make(box, 20, &j);
    float out[10];
    mtfl_view_points(&v, p, out);
    for (int k = 0; k < 5; k++) {
        cr_expect_float_eq(out[k], p[k] + 3, 1e-5);
        cr_expect_float_eq(out[k + 5], p[k + 5], 1e-5);
    }
    uint8_t src[20 * 20 * 3], dst[20 * 20 * 3];
    for (int i = 0; i < 20 * 20 * 3; i++) src[i] = (uint8_t)(i * 13 % 256);
    CHECK_OK(mtfl_render(&v, src, 20, 20, true, NULL, dst));
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 20; x++)
            for (int c = 0; c < 3; c++) {
                int want = x >= 3 ? src[(y * 20 + x - 3) * 3 + c] : 0;
                cr_assert_eq(dst[(y * 20 + x) * 3 + c], want, "pixel %d,%d", x, y);
            }
}

/* An image with a coloured blob on each landmark: after any jitter, the pixel under
 * each transformed point has the colour of the blob it belongs to. */
Test(transforms, jitter_and_mirror_keep_points_on_their_features)
{
    const int n = 96;
    static const uint8_t colours[5][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 0}, {0, 255, 255}};
    const float p[10] = {30, 66, 48, 36, 60, 36, 38, 55, 70, 72};
    mtfl_set *s = CHECK_PTR(mtfl_set_new("blobs", 1, 64, (uint64_t)n * n * 3, 64));
    mtfl_sample *m = &s->samples[0];
    m->width = m->height = n;
    memcpy(m->points, p, sizeof p);
    m->box[0] = 10, m->box[1] = 10, m->box[2] = 76, m->box[3] = 76;
    m->attr[MTFL_POSE] = 2;
    mtfl_image img = {n, n, 3, s->pixels};
    for (int k = 0; k < 5; k++)
        mtfl_draw_mark(&img, p[k], p[k + 5], 4, MTFL_MARK_DISC, (mtfl_rgb){colours[k][0], colours[k][1], colours[k][2]});
    mtfl_augment a = {.translate = 6, .mirror = 0.5f, .scale = 0.15f, .shift = 0.08f};
    int mirrored = 0;
    for (uint64_t stream = 0; stream < 40; stream++) {
        mtfl_jitter j = mtfl_jitter_draw(&a, 3, stream);
        uint8_t out[64 * 64 * 3], attr[4];
        float q[10];
        CHECK_OK(mtfl_render_sample(s, 0, 64, &j, false, NULL, out, q, attr));
        mirrored += j.mirror;
        cr_expect_eq(attr[MTFL_POSE], j.mirror ? 4 : 2);
        for (int k = 0; k < 5; k++) {
            int from = j.mirror ? (int[]){1, 0, 2, 4, 3}[k] : k;   /* whose blob is there */
            int x = (int)q[k], y = (int)q[k + 5];
            cr_assert(x >= 0 && x < 64 && y >= 0 && y < 64, "point %d left the picture", k);
            const uint8_t *px = out + (y * 64 + x) * 3;
            cr_expect(abs(px[0] - colours[from][0]) < 40 && abs(px[1] - colours[from][1]) < 40 &&
                      abs(px[2] - colours[from][2]) < 40, "stream %llu point %d at %.1f,%.1f: %d %d %d",
                      (unsigned long long)stream, k, q[k], q[k + 5], px[0], px[1], px[2]);
        }
    }
    cr_expect(mirrored > 5 && mirrored < 35, "about half mirrored: %d of 40", mirrored);
    mtfl_set_release(s);
}

/* White dots on black at the landmarks; after a rotated, zoomed, shifted, mirrored warp
 * the brightness-weighted centre of each dot is within 1 px of its transformed point. */
Test(transforms, rotation_keeps_dots_on_their_landmarks)
{
    const int n = 100, out_n = 60;
    const float p[10] = {38, 62, 50, 41, 59, 40, 40, 52, 64, 64};
    mtfl_set *s = CHECK_PTR(mtfl_set_new("dots", 1, out_n, (uint64_t)n * n * 3, 64));
    mtfl_sample *m = &s->samples[0];
    m->width = m->height = n;
    memcpy(m->points, p, sizeof p);
    m->box[0] = 20, m->box[1] = 22, m->box[2] = 60, m->box[3] = 60;
    mtfl_image img = {n, n, 3, s->pixels};
    for (int k = 0; k < 5; k++) mtfl_draw_mark(&img, p[k], p[k + 5], 2, MTFL_MARK_DISC, (mtfl_rgb){255, 255, 255});
    mtfl_augment a = {.rotate = 30, .scale = 0.15f, .shift = 0.08f, .mirror = 0.5f, .translate = 3};
    float worst = 0;
    int rotated = 0;
    for (uint64_t stream = 0; stream < 60; stream++) {
        mtfl_jitter j = mtfl_jitter_draw(&a, 5, stream);
        rotated += fabsf(j.rotate) > 5;
        float q[10];
        uint8_t out[60 * 60 * 3];
        CHECK_OK(mtfl_render_sample(s, 0, out_n, &j, stream % 2, NULL, out, q, NULL));
        for (int k = 0; k < 5; k++) {
            double sx = 0, sy = 0, sw = 0;
            for (int y = (int)q[k + 5] - 5; y <= (int)q[k + 5] + 5; y++)
                for (int x = (int)q[k] - 5; x <= (int)q[k] + 5; x++) {
                    if (x < 0 || y < 0 || x >= out_n || y >= out_n) continue;
                    double w = out[(y * out_n + x) * 3];
                    sx += w * (x + 0.5), sy += w * (y + 0.5), sw += w;
                }
            cr_assert(sw > 0, "stream %llu: no dot near point %d", (unsigned long long)stream, k);
            worst = fmaxf(worst, fmaxf(fabsf((float)(sx / sw) - q[k]), fabsf((float)(sy / sw) - q[k + 5])));
        }
    }
    cr_expect(worst < 1.0f, "a dot %.2f px from its landmark", worst);
    cr_expect(rotated > 40, "rotations drawn: %d of 60 beyond 5 degrees", rotated);
    mtfl_set_release(s);
}

/* The rotated (general) path and the separable one agree on a nearly unrotated view,
 * with a mirror, a translation and a zoom: the inverse map is the same map. */
Test(transforms, rotated_path_agrees_with_the_separable_one)
{
    const int n = 40;
    uint8_t src[50 * 50 * 3], a[40 * 40 * 3], b[40 * 40 * 3];
    for (int i = 0; i < 50 * 50 * 3; i++) src[i] = (uint8_t)((i / 3 % 50) * 4 + (i / 150) * 2 + i % 3 * 30);
    const float box[4] = {5, 3, 40, 42};
    for (int mirror = 0; mirror < 2; mirror++) {
        mtfl_jitter j = {.zoom = 1.1f, .dx = 0.05f, .dy = -0.03f, .translate = 2, .mirror = mirror};
        mtfl_view plain = mtfl_view_make(box, n, &j);
        j.rotate = 1e-4f;
        mtfl_view turned = mtfl_view_make(box, n, &j);
        cr_assert(turned.rotated && !plain.rotated);
        for (int fill = 0; fill < 2; fill++) {
            CHECK_OK(mtfl_render(&plain, src, 50, 50, fill, NULL, a));
            CHECK_OK(mtfl_render(&turned, src, 50, 50, fill, NULL, b));
            for (int i = 0; i < n * n * 3; i++)
                cr_assert(abs(a[i] - b[i]) <= 1, "mirror %d fill %d: pixel %d: %d vs %d", mirror, fill, i / 3, a[i], b[i]);
        }
        float pa[10], pb[10], in[10] = {10, 20, 30, 15, 25, 12, 14, 30, 35, 36};
        mtfl_view_points(&plain, in, pa);
        mtfl_view_points(&turned, in, pb);
        for (int k = 0; k < 10; k++) cr_expect_float_eq(pa[k], pb[k], 1e-3);
    }
}

/* ---- photometric operations ---------------------------------------------------------- */

enum { PS = 16, PN = PS * PS };

static void photo_image(float *chw)
{
    for (int i = 0; i < 3 * PN; i++) chw[i] = 0.05f + 0.6f * (float)((i * 37) % 101) / 100.0f;
}

static float plane_luma(const float *chw, int i) { return 0.299f * chw[i] + 0.587f * chw[PN + i] + 0.114f * chw[2 * PN + i]; }

Test(photometric, brightness_contrast_saturation_exactly)
{
    float in[3 * PN], out[3 * PN];
    photo_image(in);
    mtfl_photo p = mtfl_photo_none();
    p.brightness = 1.25f;
    memcpy(out, in, sizeof in);
    CHECK_OK(mtfl_photo_apply(&p, out, PS));
    double m0 = 0, m1 = 0;
    for (int i = 0; i < 3 * PN; i++) {
        cr_assert_float_eq(out[i], fminf(1.0f, in[i] * 1.25f), 1e-6);
        m0 += in[i], m1 += out[i];
    }
    cr_expect_float_eq(m1, 1.25 * m0, 1e-3 * m0, "nothing clipped below 0.65 * 1.25: the mean scales");
    p = mtfl_photo_none(), p.contrast = 0.5f;
    memcpy(out, in, sizeof in);
    CHECK_OK(mtfl_photo_apply(&p, out, PS));
    double gray = 0;
    for (int i = 0; i < PN; i++) gray += plane_luma(in, i);
    gray /= PN;
    for (int i = 0; i < 3 * PN; i++) cr_assert_float_eq(out[i], 0.5f * in[i] + 0.5f * (float)gray, 1e-5);
    p = mtfl_photo_none(), p.saturation = 0.3f;
    memcpy(out, in, sizeof in);
    CHECK_OK(mtfl_photo_apply(&p, out, PS));
    for (int i = 0; i < PN; i++) {
        cr_assert_float_eq(plane_luma(out, i), plane_luma(in, i), 1e-5, "each pixel keeps its gray");
        for (int c = 0; c < 3; c++)
            cr_assert_float_eq(out[c * PN + i] - plane_luma(in, i), 0.3f * (in[c * PN + i] - plane_luma(in, i)), 1e-5);
    }
}

Test(photometric, grayscale_gives_equal_channels)
{
    float img[3 * PN], in[3 * PN];
    photo_image(img);
    memcpy(in, img, sizeof in);
    mtfl_photo p = mtfl_photo_none();
    p.gray = true;
    CHECK_OK(mtfl_photo_apply(&p, img, PS));
    for (int i = 0; i < PN; i++) {
        cr_assert(img[i] == img[PN + i] && img[PN + i] == img[2 * PN + i], "pixel %d", i);
        cr_assert_float_eq(img[i], plane_luma(in, i), 1e-6);
    }
}

/* An impulse blurs into the Gaussian itself: weights that sum to 1, symmetric, in the
 * ratio exp(-d^2 / 2 sigma^2) between neighbours. */
Test(photometric, blur_of_an_impulse_is_the_gaussian)
{
    float img[3 * PN] = {0};
    const int c = 8;
    img[PN + c * PS + c] = 1;   /* green */
    mtfl_photo p = mtfl_photo_none();
    p.sigma = 1.2f;
    CHECK_OK(mtfl_photo_apply(&p, img, PS));
    double sum = 0;
    for (int i = 0; i < PN; i++) {
        sum += img[PN + i];
        cr_assert_eq(img[i], 0.0f, "red stays black");
    }
    cr_expect_float_eq(sum, 1.0, 1e-5);
    float at = img[PN + c * PS + c], right = img[PN + c * PS + c + 1], down2 = img[PN + (c + 2) * PS + c];
    cr_expect_float_eq(right / at, expf(-1 / (2 * 1.2f * 1.2f)), 1e-4);
    cr_expect_float_eq(down2 / at, expf(-4 / (2 * 1.2f * 1.2f)), 1e-4);
    cr_expect_float_eq(img[PN + c * PS + c - 3], img[PN + c * PS + c + 3], 1e-7, "symmetric");
    cr_expect_float_eq(img[PN + (c - 1) * PS + c - 1], img[PN + (c + 1) * PS + c + 1], 1e-7);
}

Test(photometric, erase_changes_only_its_rectangle)
{
    float in[3 * PN], out[3 * PN];
    photo_image(in);
    for (int mean = 0; mean < 2; mean++) {
        mtfl_photo p = mtfl_photo_none();
        p.erase_x = 3, p.erase_y = 5, p.erase_w = 6, p.erase_h = 4, p.erase_mean = mean, p.noise = 77;
        memcpy(out, in, sizeof in);
        CHECK_OK(mtfl_photo_apply(&p, out, PS));
        int changed = 0;
        for (int ch = 0; ch < 3; ch++) {
            double avg = 0;
            for (int i = 0; i < PN; i++) avg += in[ch * PN + i];
            avg /= PN;
            for (int y = 0; y < PS; y++)
                for (int x = 0; x < PS; x++) {
                    int i = ch * PN + y * PS + x;
                    bool inside = x >= 3 && x < 9 && y >= 5 && y < 9;
                    if (!inside) cr_assert_eq(out[i], in[i], "outside the rectangle: %d,%d", x, y);
                    else if (mean) cr_assert_float_eq(out[i], avg, 1e-5);
                    else cr_assert(out[i] >= 0 && out[i] < 1);
                    changed += out[i] != in[i];
                }
        }
        cr_expect(changed > 60, "the rectangle's 72 values changed: %d", changed);
    }
}

Test(photometric, draws_are_neutral_off_and_fixed_by_seed_and_stream)
{
    mtfl_augment off = {.rotate = 10, .mirror = 0.5f};
    mtfl_photo none = mtfl_photo_none(), d = mtfl_photo_draw(&off, 32, 1, 3);
    cr_assert_eq(memcmp(&none, &d, sizeof d), 0, "no photometric field: neutral");
    mtfl_augment a = {.brightness = 0.3f, .contrast = 0.3f, .saturation = 0.3f, .grayscale = 0.5f, .blur = 0.5f,
                      .blur_sigma = {0.5f, 1.5f}, .erase = 0.5f, .erase_area = {0.02f, 0.2f}, .erase_aspect = {0.3f, 3.3f}};
    int gray = 0, blurred = 0, erased = 0;
    for (uint64_t stream = 0; stream < 200; stream++) {
        mtfl_photo x = mtfl_photo_draw(&a, 32, 9, stream), y = mtfl_photo_draw(&a, 32, 9, stream);
        cr_assert_eq(memcmp(&x, &y, sizeof x), 0);
        cr_assert(x.brightness >= 0.7f && x.brightness <= 1.3f && x.saturation >= 0.7f && x.contrast <= 1.3f);
        gray += x.gray, blurred += x.sigma > 0, erased += x.erase_w > 0;
        if (x.sigma > 0) cr_assert(x.sigma >= 0.5f && x.sigma <= 1.5f);
        if (x.erase_w > 0) {
            float area = (float)(x.erase_w * x.erase_h) / (32 * 32);
            cr_assert(area > 0.01f && area < 0.25f, "area %g", area);
            cr_assert(x.erase_x >= 0 && x.erase_y >= 0 && x.erase_x + x.erase_w <= 32 && x.erase_y + x.erase_h <= 32);
        }
    }
    cr_expect(gray > 70 && gray < 130 && blurred > 70 && blurred < 130 && erased > 70 && erased < 130,
              "about half of 200: gray %d, blurred %d, erased %d", gray, blurred, erased);
}

Test(photometric, augment_check_names_the_field)
{
    mtfl_augment a = {.rotate = 200};
    cr_assert_eq(mtfl_augment_check(&a), MTFL_ERR_ARG);
    expect_error("rotate 200");
    a = (mtfl_augment){.blur = 0.5f, .blur_sigma = {2, 1}};
    cr_assert_eq(mtfl_augment_check(&a), MTFL_ERR_ARG);
    expect_error("blur.sigma");
    a = (mtfl_augment){.erase = 0.5f, .erase_area = {0.1f, 0.2f}, .erase_aspect = {0, 1}};
    cr_assert_eq(mtfl_augment_check(&a), MTFL_ERR_ARG);
    expect_error("erase.aspect");
    mtfl_set *s = CHECK_PTR(mtfl_synth_set(4, 32, 1, 1));
    mtfl_loader_config c = mtfl_loader_defaults();
    c.augment = (mtfl_augment){.saturation = 1.5f};
    cr_assert_null(mtfl_loader_new(s, &c), "the loader checks its augmentation");
    expect_error("saturation 1.5");
    mtfl_set_release(s);
}

/* ---- metrics ------------------------------------------------------------------------- */

Test(metrics, landmark_errors_against_hand_computed_values)
{
    /* truth: eyes (0,0) and (10,0): inter-ocular distance 10 */
    const float truth[2][10] = {{0, 10, 5, 2, 8, 0, 0, 5, 9, 9}, {0, 20, 10, 4, 16, 0, 0, 10, 18, 18}};
    float pred[2][10];
    memcpy(pred, truth, sizeof pred);
    pred[0][0] += 3, pred[0][5] += 4;      /* left eye 5 off: error 0.5 */
    pred[0][2] += 0.5f;                    /* nose 0.5 off: error 0.05 */
    pred[1][9] += 1;                       /* second face IOD 20: right mouth 1 off: 0.05 */
    float err[10];
    CHECK_OK(mtfl_landmark_errors(&pred[0][0], &truth[0][0], 2, err));
    const float want[10] = {0.5f, 0, 0.05f, 0, 0, 0, 0, 0, 0, 0.05f};
    for (int k = 0; k < 10; k++) cr_expect_float_eq(err[k], want[k], 1e-6, "error %d", k);
    mtfl_landmark_summary s;
    CHECK_OK(mtfl_landmark_summarize(err, 2, 0.1f, &s));
    cr_expect_float_eq(s.mean_error, 0.6 / 10, 1e-6);
    cr_expect_float_eq(s.point_error[0], 0.25, 1e-6);
    cr_expect_float_eq(s.point_failure[0], 0.5, 1e-9, "one left eye of two fails");
    cr_expect_float_eq(s.point_failure[2], 0.0, 1e-9, "0.05 is no failure");
    cr_expect_float_eq(s.mean_failure, 0.1, 1e-9);
    cr_expect_float_eq(s.image_failure, 0.5, 1e-9, "face 1: mean of five 0.11 > 0.1");
    float degenerate[10] = {5, 5, 5, 5, 5, 1, 1, 2, 3, 3};
    cr_expect_eq(mtfl_landmark_errors(degenerate, degenerate, 1, err), MTFL_ERR_ARG);
    expect_error("sample 1: the true eyes coincide");
}

Test(metrics, attribute_accuracy_confusion_and_majority)
{
    const int truth[6] = {1, 1, 1, 1, 2, 2}, pred[6] = {1, 1, 2, 1, 2, 1};
    mtfl_attr_summary s;
    CHECK_OK(mtfl_attr_summarize(pred, truth, 6, 2, &s));
    cr_expect_float_eq(s.accuracy, 4.0 / 6, 1e-9);
    cr_expect(s.confusion[0][0] == 3 && s.confusion[0][1] == 1 && s.confusion[1][0] == 1 && s.confusion[1][1] == 1);
    cr_expect_eq(s.majority_class, 1);
    cr_expect_float_eq(s.majority_rate, 4.0 / 6, 1e-9);
    const int bad[6] = {1, 1, 3, 1, 2, 1};
    cr_expect_eq(mtfl_attr_summarize(bad, truth, 6, 2, &s), MTFL_ERR_ARG);
    expect_error("sample 3: predicted 3, true 1, classes are 1..2");
}

/* ---- synthetic faces, the cache and the loader ---------------------------------------- */

Test(synthetic, faces_are_deterministic_and_labelled)
{
    uint8_t a[48 * 48 * 3], b[48 * 48 * 3];
    float pa[10], pb[10];
    uint8_t la[4], lb[4];
    for (uint64_t i = 0; i < 20; i++) {
        CHECK_OK(mtfl_synth_face(5, i, 48, a, pa, la));
        CHECK_OK(mtfl_synth_face(5, i, 48, b, pb, lb));
        cr_expect_eq(memcmp(a, b, sizeof a), 0, "face %llu differs between two draws", (unsigned long long)i);
        cr_expect_eq(memcmp(pa, pb, sizeof pa), 0);
        for (int k = 0; k < 10; k++) cr_expect(pa[k] > 0 && pa[k] < 48, "point %d at %g", k, pa[k]);
        cr_expect(pa[0] < pa[1] && pa[3] < pa[4], "left eye and mouth corner on the left");
        cr_expect(la[0] >= 1 && la[0] <= 2 && la[3] >= 1 && la[3] <= 5);
    }
    mtfl_set *s = CHECK_PTR(mtfl_synth_set(20, 48, 5, 2));
    cr_expect_eq(memcmp(mtfl_set_pixels(s, 19), a, sizeof a), 0, "the set's face 20 is face 19 of the stream");
    mtfl_set_release(s);
}

Test(cache, second_load_comes_from_the_cache_and_a_changed_file_rebuilds_it, .timeout = 120)
{
    char *dir = temp_dir(), cache[300], path[1100];
    write_synthetic_mtfl(dir, 12, 40);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    mtfl_protocol p = mtfl_protocol_defaults(MTFL_PROTOCOL_SEED);
    p.size = 32, p.validation = 5;
    mtfl_dataset first, second;
    CHECK_OK(mtfl_dataset_load(&first, dir, &p, cache));
    cr_expect(!first.from_cache);
    cr_expect(first.train->count == 12 && first.val->count == 5 && first.test->count == 7);
    CHECK_OK(mtfl_dataset_load(&second, dir, &p, cache));
    cr_expect(second.from_cache, "not from the cache: %s", second.cache_note);
    cr_expect_eq(second.train->count, 12);
    cr_expect_eq(memcmp(first.train->pixels, second.train->pixels, first.train->pixel_bytes), 0);
    cr_expect_eq(memcmp(first.test->samples, second.test->samples, 7 * sizeof(mtfl_sample)), 0);
    mtfl_dataset_free(&second);
    snprintf(path, sizeof path, "%s.tmp.999999999.0", first.cache_file);
    write_text(path, "left by a run that was killed while writing");
    snprintf(path, sizeof path, "%s/training.txt", dir);
    FILE *f = fopen(path, "ab");
    fputs("\r\n", f);   /* same faces, different file */
    fclose(f);
    CHECK_OK(mtfl_dataset_load(&second, dir, &p, cache));
    cr_expect(!second.from_cache);
    cr_expect(strstr(second.cache_note, "training.txt changed") != NULL, "%s", second.cache_note);
    snprintf(path, sizeof path, "%s.tmp.999999999.0", first.cache_file);
    cr_expect(access(path, F_OK) != 0, "a dead run's temporary file is removed when the cache is rewritten");
    mtfl_dataset_free(&second);
    truncate(first.cache_file, 1000);   /* a damaged cache is rebuilt, not trusted */
    CHECK_OK(mtfl_dataset_load(&second, dir, &p, cache));
    cr_expect(!second.from_cache);
    cr_expect_eq(second.train->count, 12);
    mtfl_dataset_free(&second), mtfl_dataset_free(&first);
    remove_tree(dir);
}

Test(cache, missing_images_stop_or_are_skipped_and_counted, .timeout = 120)
{
    char *dir = temp_dir(), path[300];
    write_synthetic_mtfl(dir, 6, 32);
    snprintf(path, sizeof path, "%s/train/003.png", dir);
    remove(path);
    mtfl_protocol p = mtfl_protocol_defaults(MTFL_PROTOCOL_CROP);
    p.size = 24;
    mtfl_dataset d;
    cr_expect_eq(mtfl_dataset_load(&d, dir, &p, NULL), MTFL_ERR_IO);
    expect_error("training.txt:4: image ");
    expect_error("train/003.png: cannot open");
    p.on_error = MTFL_ON_ERROR_SKIP;
    CHECK_OK(mtfl_dataset_load(&d, dir, &p, NULL));
    cr_expect_eq(d.train->count, 5);
    cr_expect_eq(d.bad_images.count, 1);
    cr_expect(strstr(d.bad_images.message[0], "003.png") != NULL, "%s", d.bad_images.message[0]);
    mtfl_dataset_free(&d);
    remove_tree(dir);
}

Test(loader, batches_depend_on_the_seed_only)
{
    mtfl_set *s = CHECK_PTR(mtfl_synth_set(23, 32, 9, 2));
    mtfl_loader_config c = mtfl_loader_defaults();
    c.batch_size = 5, c.seed = 11;
    c.augment = (mtfl_augment){.translate = 4, .mirror = 0.5f, .scale = 0.1f, .shift = 0.05f};
    mtfl_loader *one = CHECK_PTR(mtfl_loader_new(s, &c));
    c.workers = 3;
    mtfl_loader *three = CHECK_PTR(mtfl_loader_new(s, &c));
    cr_assert_eq(mtfl_loader_batches(one), 5);
    int order[5][2] = {{0, 0}, {0, 1}, {1, 4}, {0, 4}, {2, 2}};  /* in order, then jumps */
    for (int k = 0; k < 5; k++) {
        const mtfl_batch *a = CHECK_PTR(mtfl_loader_acquire(one, order[k][0], order[k][1]));
        mtfl_batch copy;
        CHECK_OK(mtfl_batch_alloc(&copy, 5, 32));
        size_t image = (size_t)a->count * 3 * 32 * 32 * sizeof(float);
        memcpy(copy.images, a->images, image);
        memcpy(copy.samples, a->samples, (size_t)a->count * sizeof(int32_t));
        int count = a->count;
        mtfl_loader_release(one);
        const mtfl_batch *b = CHECK_PTR(mtfl_loader_acquire(three, order[k][0], order[k][1]));
        cr_expect_eq(b->count, count);
        cr_expect_eq(count, order[k][1] == 4 ? 3 : 5, "the last batch holds the remainder");
        cr_expect_eq(memcmp(b->samples, copy.samples, (size_t)count * sizeof(int32_t)), 0, "batch %d", k);
        cr_expect_eq(memcmp(b->images, copy.images, image), 0, "batch %d: pixels", k);
        mtfl_loader_release(three);
        mtfl_batch_free(&copy);
    }
    const mtfl_batch *e0 = mtfl_loader_acquire(one, 0, 0);
    int first0 = e0->samples[0];
    mtfl_loader_release(one);
    const mtfl_batch *e1 = mtfl_loader_acquire(one, 1, 0);
    cr_expect(first0 != e1->samples[0] || e1->samples[1] != 0, "epochs are shuffled differently");
    mtfl_loader_release(one);
    cr_expect_null(mtfl_loader_acquire(one, 0, 5));
    expect_error("batch 6 of epoch 1 does not exist");
    mtfl_loader_free(one), mtfl_loader_free(three);
    mtfl_set_release(s);
}

/* ---- the real data ------------------------------------------------------------------ */

/* ../shared/MTFL beside the repository this file is in, or $MTFL_DATA. */
static const char *real_data(void)
{
    static char dir[1024];
    const char *env = getenv("MTFL_DATA");
    if (env && *env) snprintf(dir, sizeof dir, "%s", env);
    else {
        char src[1024];
        snprintf(src, sizeof src, "%s", __FILE__);
        snprintf(dir, sizeof dir, "%s/../../../shared/MTFL", dirname(src));   /* tests/c -> repo/.. */
    }
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/testing.txt", dir);
    return access(probe, R_OK) == 0 ? dir : NULL;
}

Test(protocols, counts_on_the_real_files)
{
    const char *dir = real_data();
    if (!dir) {
        /* not cr_log_warn: Criterion 2.4 then exits with status 1 though every test passed */
        fprintf(stderr, "MTFL data not found (../shared/MTFL or MTFL_DATA): protocol counts skipped\n");
        return;
    }
    mtfl_protocol p = mtfl_protocol_defaults(MTFL_PROTOCOL_SEED);
    p.scan_only = true;
    mtfl_dataset d;
    CHECK_OK(mtfl_dataset_load(&d, dir, &p, NULL));
    cr_expect_eq(d.train_lines, 10000);
    cr_expect_eq(d.test_lines, 2995);
    cr_expect_eq(d.train->count, 7650, "seed: 7650 square colour training images");
    cr_expect_eq(d.dropped_nonsquare, 2350);
    cr_expect_eq(d.val->count, 1000);
    cr_expect_eq(d.test->count, 1995);
    mtfl_dataset_free(&d);
    p = mtfl_protocol_defaults(MTFL_PROTOCOL_CROP);
    p.scan_only = true;
    CHECK_OK(mtfl_dataset_load(&d, dir, &p, NULL));
    cr_expect_eq(d.train->count, 10000, "crop: every training face");
    cr_expect(d.val->count == 1000 && d.test->count == 1995);
    mtfl_dataset_free(&d);
}

/* ---- bad input never crashes ------------------------------------------------------------ */

static uint32_t fuzz_next(uint32_t *s) { return *s = *s * 1664525u + 1013904223u; }

Test(fuzz, mangled_annotation_text_is_an_error_or_accepted_never_a_crash)
{
    uint32_t seed = 12345;
    size_t n = strlen(distributed);
    char buf[512];
    for (int round = 0; round < 3000; round++) {
        memcpy(buf, distributed, n);
        size_t len = n;
        for (int k = fuzz_next(&seed) % 6; k >= 0; k--) {
            size_t at = fuzz_next(&seed) % len;
            switch (fuzz_next(&seed) % 4) {
            case 0: buf[at] = (char)(fuzz_next(&seed) >> 24); break;     /* any byte, NUL too */
            case 1: len = at + 1; break;                                  /* truncated */
            case 2: buf[at] = " \r\n\t\\."[fuzz_next(&seed) % 6]; break;  /* separators */
            default: buf[at] = "0123456789e-+"[fuzz_next(&seed) % 13];
            }
        }
        for (int policy = 0; policy < 2; policy++) {
            mtfl_annotations a;
            mtfl_status st = mtfl_annotations_parse(&a, "fuzz.txt", buf, len, (mtfl_on_error)policy);
            cr_assert(st == MTFL_OK || st == MTFL_ERR_ARG, "round %d: status %d", round, st);
            if (st == MTFL_OK) mtfl_annotations_free(&a);
        }
    }
}

Test(fuzz, damaged_images_and_caches_are_errors_or_usable_never_a_crash, .timeout = 120)
{
    char *dir = temp_dir(), path[300], cache[300];
    write_synthetic_mtfl(dir, 4, 32);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    mtfl_protocol p = mtfl_protocol_defaults(MTFL_PROTOCOL_SEED);
    p.size = 24;
    mtfl_dataset d;
    CHECK_OK(mtfl_dataset_load(&d, dir, &p, cache));
    char file[1024];
    snprintf(file, sizeof file, "%s", d.cache_file);
    mtfl_dataset_free(&d);
    size_t len;
    char *good = read_all(file, &len);
    uint32_t seed = 99;
    for (int round = 0; round < 200; round++) {
        char *bad = malloc(len);
        memcpy(bad, good, len);
        size_t cut = round % 3 == 0 ? fuzz_next(&seed) % len : len;
        for (int k = 0; k < 8; k++) bad[fuzz_next(&seed) % (len < 8192 ? len : 8192)] ^= (char)(1 + fuzz_next(&seed) % 255);
        FILE *f = fopen(file, "wb");
        fwrite(bad, 1, cut, f);
        fclose(f);
        free(bad);
        if (mtfl_dataset_load(&d, dir, &p, cache) == MTFL_OK) {
            uint8_t out[24 * 24 * 3];
            float pts[10];
            mtfl_jitter j = mtfl_jitter_none();
            for (int i = 0; i < d.train->count; i++)   /* whatever was accepted renders */
                mtfl_render_sample(d.train, i, 24, &j, false, NULL, out, pts, NULL);
            mtfl_dataset_free(&d);
        }
    }
    free(good);
    /* image files: garbage, and real files cut short */
    for (int round = 0; round < 60; round++) {
        snprintf(path, sizeof path, "%s/train/%03d.png", dir, round % 4);
        char *img = read_all(path, &len);
        snprintf(path, sizeof path, "%s/bad.png", dir);
        FILE *f = fopen(path, "wb");
        for (int k = 0; k < 4; k++) img[8 + fuzz_next(&seed) % (len - 8)] ^= (char)(fuzz_next(&seed) >> 24);
        fwrite(img, 1, round % 2 ? len : fuzz_next(&seed) % len, f);
        fclose(f);
        free(img);
        mtfl_image out;
        int w, h, c;
        if (mtfl_image_info(path, &w, &h, &c) == MTFL_OK && mtfl_image_load(&out, path, NULL) == MTFL_OK)
            mtfl_image_free(&out);
    }
    remove_tree(dir);
}
