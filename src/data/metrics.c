/*
 * metrics.c - the seed's and TCDCN's measures. A landmark's error is its distance from
 * the truth over the true inter-ocular distance (so it does not depend on the image's
 * scale); above 10% it is a failure, and the seed's "accuracy" is 1 - failure rate.
 */
#include <math.h>
#include <string.h>

#include "data_internal.h"

mtfl_status mtfl_landmark_errors(const float *pred, const float *truth, int n, float *err)
{
    if (n < 0) return mtfl_fail(MTFL_ERR_ARG, "landmark errors: %d samples", n);
    for (int i = 0; i < n; i++) {
        const float *p = pred + (size_t)i * MTFL_COORDS, *t = truth + (size_t)i * MTFL_COORDS;
        double iod = hypot((double)t[0] - t[1], (double)t[5] - t[6]);
        if (!(iod > 1e-6) || !isfinite(iod))
            return mtfl_fail(MTFL_ERR_ARG,
                             "landmark errors: sample %d: the true eyes coincide (inter-ocular "
                             "distance %g), its errors cannot be normalised", i + 1, iod);
        for (int k = 0; k < MTFL_POINTS; k++) {
            double d = hypot((double)p[k] - t[k], (double)p[MTFL_POINTS + k] - t[MTFL_POINTS + k]);
            err[(size_t)i * MTFL_POINTS + k] = (float)(d / iod);
        }
    }
    return MTFL_OK;
}

mtfl_status mtfl_landmark_summarize(const float *err, int n, float threshold,
                                    mtfl_landmark_summary *s)
{
    memset(s, 0, sizeof *s);
    s->count = n, s->threshold = threshold;
    if (n <= 0) return mtfl_fail(MTFL_ERR_ARG, "landmark summary: no samples");
    long failures[MTFL_POINTS] = {0}, image_failures = 0;
    double total = 0;
    for (int i = 0; i < n; i++) {
        double image = 0;
        for (int k = 0; k < MTFL_POINTS; k++) {
            double e = err[(size_t)i * MTFL_POINTS + k];
            s->point_error[k] += e;
            image += e;
            /* a NaN prediction is a failure, not a pass: !(e <= t) */
            if (!(e <= threshold)) failures[k]++;
        }
        total += image;
        if (!(image / MTFL_POINTS <= threshold)) image_failures++;
    }
    for (int k = 0; k < MTFL_POINTS; k++) {
        s->point_error[k] /= n;
        s->point_failure[k] = (double)failures[k] / n;
        s->mean_failure += s->point_failure[k] / MTFL_POINTS;
    }
    s->mean_error = total / ((double)n * MTFL_POINTS);
    s->image_failure = (double)image_failures / n;
    return MTFL_OK;
}

mtfl_status mtfl_attr_summarize(const int *pred, const int *truth, int n, int classes,
                                mtfl_attr_summary *s)
{
    memset(s, 0, sizeof *s);
    if (classes < 1 || classes > MTFL_MAX_CLASSES)
        return mtfl_fail(MTFL_ERR_ARG, "attribute summary: %d classes (1..%d)", classes, MTFL_MAX_CLASSES);
    if (n <= 0) return mtfl_fail(MTFL_ERR_ARG, "attribute summary: no samples");
    s->classes = classes;
    for (int i = 0; i < n; i++) {
        if (truth[i] == 0) {   /* unknown: neither right nor wrong */
            s->unknown++;
            continue;
        }
        if (truth[i] < 1 || truth[i] > classes || pred[i] < 1 || pred[i] > classes)
            return mtfl_fail(MTFL_ERR_ARG,
                             "attribute summary: sample %d: predicted %d, true %d, classes are 1..%d (0: unknown)",
                             i + 1, pred[i], truth[i], classes);
        s->confusion[truth[i] - 1][pred[i] - 1]++;
        s->count++;
    }
    if (s->count == 0) return MTFL_OK;   /* nothing known: no accuracy to give */
    int64_t correct = 0, best = -1;
    for (int c = 0; c < classes; c++) {
        int64_t row = 0;
        for (int p = 0; p < classes; p++) row += s->confusion[c][p];
        correct += s->confusion[c][c];
        if (row > best) best = row, s->majority_class = c + 1;
    }
    s->accuracy = (double)correct / s->count;
    s->majority_rate = (double)best / s->count;
    return MTFL_OK;
}
