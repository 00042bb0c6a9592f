/*
 * test_tensor.c - tensors and views, host transfers, image bytes, and the errors the
 * core reports for misuse: shapes, devices, memory budgets.
 */
#include <string.h>

#include "test_util.h"

static mtfl_tensor *arange_tensor(mtfl_device *dev, int ndim, const int64_t *shape)
{
    mtfl_tensor *t = CHECK_PTR(mtfl_tensor_new(dev, ndim, shape));
    CHECK_OK(mtfl_arange(t, 0, 1));
    return t;
}

Test(tensor, views_share_storage_and_index_correctly)
{
    for (int d = 0; d < mtfl_device_count(); d++) {
        mtfl_device *dev = mtfl_device_at(d);
        int64_t shape[3] = {2, 3, 4};
        mtfl_tensor *t = arange_tensor(dev, 3, shape);
        cr_expect_eq(mtfl_numel(t), 24);
        cr_expect(mtfl_is_contiguous(t));

        mtfl_tensor *tr = CHECK_PTR(mtfl_tensor_transpose(t, 0, 2)); /* [4,3,2] */
        cr_expect(!mtfl_is_contiguous(tr));
        cr_expect_eq(tr->storage, t->storage);
        mtfl_tensor *row = CHECK_PTR(mtfl_tensor_select(tr, 0, 1));   /* x[:, :, 1] as [3,2] */
        mtfl_tensor *part = CHECK_PTR(mtfl_tensor_narrow(row, 0, 1, 2)); /* rows 1..2 */
        float want[4] = {5, 17, 9, 21}; /* t[0][1][1], t[1][1][1], t[0][2][1], t[1][2][1] */
        expect_values(part, want, 4, 0, "select/narrow of a transpose");

        /* writing through a view changes the base tensor */
        CHECK_OK(mtfl_fill(part, -1));
        float all[24];
        CHECK_OK(mtfl_tensor_read(t, all, 24));
        cr_expect(all[5] == -1 && all[17] == -1 && all[9] == -1 && all[21] == -1 && all[4] == 4,
                  "fill through a view on %s", dev->id);

        int64_t flat[2] = {6, -1};
        mtfl_tensor *r = CHECK_PTR(mtfl_tensor_reshape(t, 2, flat));
        cr_expect(r->shape[0] == 6 && r->shape[1] == 4, "reshape inferred -1");
        cr_expect_null(mtfl_tensor_reshape(tr, 2, flat), "reshape of a non-contiguous view");
        cr_expect(strstr(mtfl_last_error(), "not contiguous") != NULL, "%s", mtfl_last_error());

        mtfl_tensor *c = CHECK_PTR(mtfl_tensor_contiguous(tr));
        cr_expect(mtfl_is_contiguous(c) && c->storage != t->storage);
        mtfl_tensor_release(c), mtfl_tensor_release(r), mtfl_tensor_release(part);
        mtfl_tensor_release(row), mtfl_tensor_release(tr), mtfl_tensor_release(t);
    }
}

Test(tensor, storage_lives_until_its_last_view)
{
    mtfl_device *cpu = mtfl_device_cpu();
    size_t before = cpu->bytes_in_use;
    int64_t n = 1000;
    mtfl_tensor *t = arange_tensor(cpu, 1, &n);
    cr_expect_eq(cpu->bytes_in_use, before + 4000);
    mtfl_tensor *v = CHECK_PTR(mtfl_tensor_narrow(t, 0, 10, 5));
    mtfl_tensor_release(t);
    cr_expect_eq(cpu->bytes_in_use, before + 4000, "the view keeps the storage");
    float want[5] = {10, 11, 12, 13, 14};
    expect_values(v, want, 5, 0, "view after its base was released");
    mtfl_tensor_release(v);
    cr_expect_eq(cpu->bytes_in_use, before);
}

Test(tensor, bad_shapes_and_indices_are_errors)
{
    mtfl_device *cpu = mtfl_device_cpu();
    int64_t shape[2] = {2, 3}, other[2] = {3, 2}, bad[1] = {-2};
    mtfl_tensor *a = arange_tensor(cpu, 2, shape), *b = arange_tensor(cpu, 2, other);
    mtfl_tensor *out = CHECK_PTR(mtfl_tensor_new(cpu, 2, shape));
    cr_expect_eq(mtfl_binary(MTFL_BINARY_ADD, out, a, b), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "add: shapes [2x3] and [3x2] differ") != NULL, "%s",
              mtfl_last_error());
    cr_expect_null(mtfl_tensor_new(cpu, 1, bad));
    cr_expect(strstr(mtfl_last_error(), "negative") != NULL, "%s", mtfl_last_error());
    cr_expect_null(mtfl_tensor_narrow(a, 1, 2, 2));
    cr_expect(strstr(mtfl_last_error(), "narrow") != NULL, "%s", mtfl_last_error());
    cr_expect_null(mtfl_tensor_select(a, 2, 0));
    cr_expect(strstr(mtfl_last_error(), "dimension 3 out of range") != NULL, "%s", mtfl_last_error());
    int64_t mshape[3];
    cr_expect_eq(mtfl_matmul_shape(a, a, false, false, mshape), -1);
    cr_expect(strstr(mtfl_last_error(), "matmul: shapes [2x3] and [2x3] do not multiply") != NULL,
              "%s", mtfl_last_error());
    float v[5];
    cr_expect_eq(mtfl_tensor_write(a, v, 5), MTFL_ERR_ARG);
    cr_expect_eq(mtfl_reduce(MTFL_REDUCE_SUM, out, a, 0), MTFL_ERR_ARG, "output of the wrong size");
    cr_expect_null(mtfl_device_find("opencl:99"));
    cr_expect(strstr(mtfl_last_error(), "device 'opencl:99' not found") != NULL, "%s", mtfl_last_error());
    mtfl_tensor_release(a), mtfl_tensor_release(b), mtfl_tensor_release(out);
}

Test(tensor, mixed_devices_are_an_error)
{
    if (opencl_device_count() == 0) {
        fprintf(stderr, "no OpenCL device: mixed-device check skipped\n"); /* cr_log_warn fails the run in Criterion 2.4 */
        return;
    }
    int64_t n = 4;
    mtfl_tensor *a = arange_tensor(mtfl_device_cpu(), 1, &n);
    mtfl_tensor *b = arange_tensor(opencl_device(0), 1, &n);
    mtfl_tensor *out = CHECK_PTR(mtfl_tensor_new(mtfl_device_cpu(), 1, &n));
    cr_expect_eq(mtfl_binary(MTFL_BINARY_MUL, out, a, b), MTFL_ERR_DEVICE);
    cr_expect(strstr(mtfl_last_error(), "mul: tensors on different devices") != NULL, "%s",
              mtfl_last_error());
    mtfl_tensor_release(a), mtfl_tensor_release(b), mtfl_tensor_release(out);
}

Test(tensor, memory_budget_gives_out_of_memory)
{
    for (int d = 0; d < mtfl_device_count(); d++) {
        mtfl_device *dev = mtfl_device_at(d);
        size_t saved = dev->memory_limit;
        dev->memory_limit = dev->bytes_in_use + 1000 * sizeof(float);
        int64_t small = 600, big = 600;
        mtfl_tensor *a = CHECK_PTR(mtfl_tensor_new(dev, 1, &small));
        cr_expect_null(mtfl_tensor_new(dev, 1, &big), "allocation beyond the budget on %s", dev->id);
        cr_expect_eq(mtfl_last_status(), MTFL_ERR_OOM);
        cr_expect(strstr(mtfl_last_error(), "out of memory on") != NULL, "%s", mtfl_last_error());
        mtfl_tensor_release(a);
        mtfl_tensor *b = CHECK_PTR(mtfl_tensor_new(dev, 1, &big)); /* fits once a is gone */
        mtfl_tensor_release(b);
        dev->memory_limit = saved;
    }
}

Test(tensor, image_bytes_round_trip)
{
    uint8_t pixels[2 * 3 * 3];
    for (int i = 0; i < 18; i++) pixels[i] = (uint8_t)(i * 14);
    for (int d = 0; d < mtfl_device_count(); d++) {
        mtfl_device *dev = mtfl_device_at(d);
        int64_t chw[3] = {3, 2, 3};
        mtfl_tensor *t = CHECK_PTR(mtfl_tensor_new(dev, 3, chw));
        CHECK_OK(mtfl_from_bytes(t, pixels, 2, 3, 3, true, 1.0f / 255.0f));
        float v[18];
        CHECK_OK(mtfl_tensor_read(t, v, 18));
        /* channel 1 of pixel (row 1, col 2) = byte (1*3 + 2)*3 + 1 = 16 */
        cr_expect_float_eq(v[1 * 6 + 1 * 3 + 2], 16 * 14 / 255.0f, 1e-6);
        uint8_t back[18];
        CHECK_OK(mtfl_to_bytes(t, back, 2, 3, 3, true, 1.0f / 255.0f));
        cr_expect(memcmp(back, pixels, 18) == 0, "bytes -> tensor -> bytes on %s", dev->id);
        cr_expect_eq(mtfl_from_bytes(t, pixels, 3, 2, 3, true, 1.0f), MTFL_ERR_ARG, "wrong image shape");
        mtfl_tensor_release(t);
    }
}

Test(tensor, devices_are_listed_cpu_first)
{
    cr_assert_geq(mtfl_device_count(), 1);
    cr_expect_str_eq(mtfl_device_at(0)->id, "cpu");
    cr_expect_eq(mtfl_device_find("cpu"), mtfl_device_cpu());
    for (int d = 0; d < opencl_device_count(); d++) {
        char id[32];
        snprintf(id, sizeof id, "opencl:%d", d);
        cr_expect_str_eq(opencl_device(d)->id, id);
        cr_expect_eq(mtfl_device_find(id), opencl_device(d));
        cr_expect_gt(opencl_device(d)->memory, 0);
    }
    if (opencl_device_count() == 0)
        fprintf(stderr, "no OpenCL device (%s): only the CPU backend is tested\n", mtfl_opencl_notice());
}
