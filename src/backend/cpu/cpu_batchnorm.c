/*
 * cpu_batchnorm.c - batch normalisation on the CPU, one channel per OpenMP iteration:
 * each channel's sums are one thread's, in a fixed order, so results do not depend on
 * the thread count. Sums are accumulated in double (a channel of a large batch holds
 * millions of values), the variance in a second pass around the mean, which keeps it
 * accurate when the mean is large against the spread.
 */
#include <math.h>

#include "cpu_internal.h"

/* Element i of channel c's n-th row: x is [outer, channels, inner]. */
#define AT(base, d, n, c) ((base) + ((n) * (d)->channels + (c)) * (d)->inner)

mtfl_status mtfl_cpu_batchnorm_stats(mtfl_device *dev, mtfl_buf mean_b, mtfl_buf var_b,
                                     mtfl_buf rmean_b, mtfl_buf rvar_b, mtfl_buf x_b,
                                     const mtfl_norm_dims *d)
{
    const float *x = cpu_ptr(x_b);
    float *mean = cpu_ptr(mean_b), *var = cpu_ptr(var_b);
    float *rmean = rmean_b.handle ? cpu_ptr(rmean_b) : NULL;
    float *rvar = rvar_b.handle ? cpu_ptr(rvar_b) : NULL;
    double count = (double)(d->outer * d->inner);
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < d->channels; c++) {
        double sum = 0.0;
        for (size_t n = 0; n < d->outer; n++) {
            const float *row = AT(x, d, n, c);
            for (size_t i = 0; i < d->inner; i++) sum += row[i];
        }
        double m = sum / count, squares = 0.0;
        for (size_t n = 0; n < d->outer; n++) {
            const float *row = AT(x, d, n, c);
            for (size_t i = 0; i < d->inner; i++) {
                double dev_i = row[i] - m;
                squares += dev_i * dev_i;
            }
        }
        mean[c] = (float)m;
        var[c] = (float)(squares / count);
        if (rmean) {
            float mo = d->momentum;
            rmean[c] = (1.0f - mo) * rmean[c] + mo * (float)m;
            rvar[c] = (1.0f - mo) * rvar[c] + mo * (float)(squares / (count - 1.0));
        }
    }
    return MTFL_OK;
}

static inline float inv_std(float var, float eps) { return 1.0f / sqrtf(var + eps); }

mtfl_status mtfl_cpu_batchnorm_apply(mtfl_device *dev, mtfl_buf y_b, mtfl_buf x_b,
                                     mtfl_buf mean_b, mtfl_buf var_b, mtfl_buf w_b, mtfl_buf b_b,
                                     const mtfl_norm_dims *d)
{
    const float *x = cpu_ptr(x_b), *mean = cpu_ptr(mean_b), *var = cpu_ptr(var_b);
    const float *w = w_b.handle ? cpu_ptr(w_b) : NULL, *b = b_b.handle ? cpu_ptr(b_b) : NULL;
    float *y = cpu_ptr(y_b);
#pragma omp parallel for collapse(2) schedule(static)
    for (size_t n = 0; n < d->outer; n++)
        for (size_t c = 0; c < d->channels; c++) {
            float scale = (w ? w[c] : 1.0f) * inv_std(var[c], d->eps);
            float shift = (b ? b[c] : 0.0f) - mean[c] * scale;
            const float *in = AT(x, d, n, c);
            float *out = AT(y, d, n, c);
            for (size_t i = 0; i < d->inner; i++) out[i] = in[i] * scale + shift;
        }
    return MTFL_OK;
}

mtfl_status mtfl_cpu_batchnorm_backward(mtfl_device *dev, mtfl_buf dx_b, mtfl_buf dw_b,
                                        mtfl_buf db_b, mtfl_buf sums_b, mtfl_buf dy_b,
                                        mtfl_buf x_b, mtfl_buf mean_b, mtfl_buf var_b,
                                        mtfl_buf w_b, const mtfl_norm_dims *d, bool training)
{
    (void)sums_b;   /* the sums stay in registers here */
    const float *dy = cpu_ptr(dy_b), *x = cpu_ptr(x_b);
    const float *mean = cpu_ptr(mean_b), *var = cpu_ptr(var_b);
    const float *w = w_b.handle ? cpu_ptr(w_b) : NULL;
    float *dx = dx_b.handle ? cpu_ptr(dx_b) : NULL;
    float *dw = dw_b.handle ? cpu_ptr(dw_b) : NULL, *db = db_b.handle ? cpu_ptr(db_b) : NULL;
    float count = (float)(d->outer * d->inner);
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < d->channels; c++) {
        float is = inv_std(var[c], d->eps), m = mean[c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        if (training || dw || db)
            for (size_t n = 0; n < d->outer; n++) {
                const float *g = AT(dy, d, n, c), *in = AT(x, d, n, c);
                for (size_t i = 0; i < d->inner; i++) {
                    sum_dy += g[i];
                    sum_dy_xhat += (double)g[i] * ((in[i] - m) * is);
                }
            }
        if (db) db[c] += (float)sum_dy;
        if (dw) dw[c] += (float)sum_dy_xhat;
        if (!dx) continue;
        float scale = (w ? w[c] : 1.0f) * is;
        float mean_dy = training ? (float)sum_dy / count : 0.0f;
        float mean_dy_xhat = training ? (float)sum_dy_xhat / count : 0.0f;
        for (size_t n = 0; n < d->outer; n++) {
            const float *g = AT(dy, d, n, c), *in = AT(x, d, n, c);
            float *out = AT(dx, d, n, c);
            for (size_t i = 0; i < d->inner; i++)
                out[i] = scale * (g[i] - mean_dy - ((in[i] - m) * is) * mean_dy_xhat);
        }
    }
    return MTFL_OK;
}
