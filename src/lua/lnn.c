/*
 * lnn.c - the layer ops from Lua: convolution, pooling, batch normalisation, bias,
 * softmax cross-entropy, activation gradients and the optimizers' fused updates. The nn library (lua/mtfl/nn)
 * builds its modules on these.
 *
 * Options come in a trailing table: {stride = 1 or {sh, sw}, padding = 0 or {ph, pw},
 * kernel = k or {kh, kw}, ceil = false}. Class labels are 1-based, as everywhere in Lua.
 */
#include <math.h>

#include "lbind.h"

/* A number, or a {h, w} pair, from field key of the table at idx. */
static void pair_field(lua_State *L, int idx, const char *key, int def, int *h, int *w)
{
    *h = *w = def;
    if (lua_isnoneornil(L, idx)) return;
    lua_getfield(L, idx, key);
    if (lua_type(L, -1) == LUA_TNUMBER) {
        *h = *w = (int)lua_tointeger(L, -1);
    } else if (lua_istable(L, -1)) {
        lua_geti(L, -1, 1);
        lua_geti(L, -2, 2);
        *h = (int)luaL_checkinteger(L, -2);
        *w = (int)luaL_checkinteger(L, -1);
        lua_pop(L, 2);
    } else if (!lua_isnil(L, -1)) {
        lmtfl_error(L, "option '%s' must be a number or a {height, width} pair", key);
    }
    lua_pop(L, 1);
}

/* The window of a convolution with weights of shape w_shape: the kernel is theirs. */
static mtfl_window conv_window(lua_State *L, int opts, int w_ndim, const int64_t *w_shape)
{
    if (!lua_isnoneornil(L, opts)) luaL_checktype(L, opts, LUA_TTABLE);
    mtfl_window g = {0};
    g.kernel_h = w_ndim == 4 ? (int)w_shape[2] : 0;
    g.kernel_w = w_ndim == 4 ? (int)w_shape[3] : 0;
    pair_field(L, opts, "stride", 1, &g.stride_h, &g.stride_w);
    pair_field(L, opts, "padding", 0, &g.pad_h, &g.pad_w);
    if (g.stride_h < 1 || g.stride_w < 1 || g.pad_h < 0 || g.pad_w < 0)
        lmtfl_error(L, "conv2d: stride %dx%d and padding %dx%d must be positive and non-negative",
                    g.stride_h, g.stride_w, g.pad_h, g.pad_w);
    return g;
}

/* op names the pooling in the messages */
static mtfl_window pool_window(lua_State *L, int opts, const char *op)
{
    luaL_checktype(L, opts, LUA_TTABLE);
    mtfl_window g = {0};
    pair_field(L, opts, "kernel", 0, &g.kernel_h, &g.kernel_w);
    if (g.kernel_h < 1 || g.kernel_w < 1) lmtfl_error(L, "%s: option 'kernel' is required (>= 1)", op);
    pair_field(L, opts, "stride", 0, &g.stride_h, &g.stride_w);
    if (g.stride_h == 0) g.stride_h = g.kernel_h;
    if (g.stride_w == 0) g.stride_w = g.kernel_w;
    pair_field(L, opts, "padding", 0, &g.pad_h, &g.pad_w);
    lua_getfield(L, opts, "ceil");
    g.ceil_mode = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (g.stride_h < 1 || g.stride_w < 1 || g.pad_h < 0 || g.pad_w < 0)
        lmtfl_error(L, "%s: stride %dx%d and padding %dx%d must be positive and non-negative",
                    op, g.stride_h, g.stride_w, g.pad_h, g.pad_w);
    return g;
}

static mtfl_tensor *opt_tensor_field(lua_State *L, int opts, const char *key)
{
    if (lua_isnoneornil(L, opts)) return NULL;
    lua_getfield(L, opts, key);
    mtfl_tensor *t = lua_isnil(L, -1) ? NULL : lmtfl_check_tensor(L, -1);
    lua_pop(L, 1); /* the options table keeps it alive */
    return t;
}

static float opt_float_field(lua_State *L, int opts, const char *key, float def)
{
    if (lua_isnoneornil(L, opts)) return def;
    lua_getfield(L, opts, key);
    float v = lua_isnil(L, -1) ? def : (float)luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* conv2d(x, w, bias_or_nil [, options]) -> y */
static int l_conv2d(lua_State *L)
{
    mtfl_tensor *x = lmtfl_check_tensor(L, 1), *w = lmtfl_check_tensor(L, 2);
    mtfl_tensor *b = lua_isnoneornil(L, 3) ? NULL : lmtfl_check_tensor(L, 3);
    mtfl_window g = conv_window(L, 4, w->ndim, w->shape);
    int64_t shape[4];
    LMTFL_CALL(L, mtfl_conv2d_shape(x->ndim, x->shape, w->ndim, w->shape, &g, shape));
    mtfl_tensor *y = lmtfl_new_tensor(L, mtfl_tensor_device(x), 4, shape);
    LMTFL_CALL(L, mtfl_conv2d_forward(y, x, w, b, &g));
    return 1;
}

/* A shape table at idx (a list of sizes) into shape; returns ndim. */
static int shape_arg(lua_State *L, int idx, int64_t *shape)
{
    int next;
    luaL_checktype(L, idx, LUA_TTABLE);
    return lmtfl_check_shape(L, idx, shape, &next);
}

/* conv2d_shape(input_shape, weight_shape [, options]) -> output shape: the rule conv2d
 * allocates with, for shape inference without tensors */
static int l_conv2d_shape(lua_State *L)
{
    int64_t xs[MTFL_MAX_DIMS], ws[MTFL_MAX_DIMS], out[4];
    int xn = shape_arg(L, 1, xs), wn = shape_arg(L, 2, ws);
    mtfl_window g = conv_window(L, 3, wn, ws);
    LMTFL_CALL(L, mtfl_conv2d_shape(xn, xs, wn, ws, &g, out));
    lmtfl_push_dims(L, 4, out);
    return 1;
}

/* conv2d_backward(dy, x, w [, {stride, padding, dw=, db=, need_dx=true}]) -> dx or nil */
static int l_conv2d_backward(lua_State *L)
{
    mtfl_tensor *dy = lmtfl_check_tensor(L, 1), *x = lmtfl_check_tensor(L, 2);
    mtfl_tensor *w = lmtfl_check_tensor(L, 3);
    mtfl_window g = conv_window(L, 4, w->ndim, w->shape);
    mtfl_tensor *dw = opt_tensor_field(L, 4, "dw"), *db = opt_tensor_field(L, 4, "db");
    bool need_dx = true;
    if (!lua_isnoneornil(L, 4)) {
        lua_getfield(L, 4, "need_dx");
        need_dx = lua_isnil(L, -1) || lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    mtfl_tensor *dx = need_dx ? lmtfl_new_like(L, x) : NULL;
    if (!need_dx) lua_pushnil(L);
    LMTFL_CALL(L, mtfl_conv2d_backward(dx, dw, db, dy, x, w, &g));
    return 1;
}

/* maxpool2d(x, {kernel, stride, padding, ceil}) -> y, indices */
static int l_maxpool2d(lua_State *L)
{
    mtfl_tensor *x = lmtfl_check_tensor(L, 1);
    mtfl_window g = pool_window(L, 2, "maxpool2d");
    int64_t shape[4];
    LMTFL_CALL(L, mtfl_maxpool2d_shape(x->ndim, x->shape, &g, shape));
    mtfl_tensor *y = lmtfl_new_tensor(L, mtfl_tensor_device(x), 4, shape);
    mtfl_tensor *idx = lmtfl_new_tensor(L, mtfl_tensor_device(x), 4, shape);
    LMTFL_CALL(L, mtfl_maxpool2d_forward(y, idx, x, &g));
    return 2;
}

/* maxpool2d_shape(input_shape, options) -> output shape */
static int l_maxpool2d_shape(lua_State *L)
{
    int64_t xs[MTFL_MAX_DIMS], out[4];
    int xn = shape_arg(L, 1, xs);
    mtfl_window g = pool_window(L, 2, "maxpool2d");
    LMTFL_CALL(L, mtfl_maxpool2d_shape(xn, xs, &g, out));
    lmtfl_push_dims(L, 4, out);
    return 1;
}

/* maxpool2d_backward(dy, indices, input_shape, options) -> dx */
static int l_maxpool2d_backward(lua_State *L)
{
    mtfl_tensor *dy = lmtfl_check_tensor(L, 1), *idx = lmtfl_check_tensor(L, 2);
    int64_t shape[MTFL_MAX_DIMS];
    int ndim = shape_arg(L, 3, shape);
    mtfl_window g = pool_window(L, 4, "maxpool2d");
    mtfl_tensor *dx = lmtfl_new_tensor(L, mtfl_tensor_device(dy), ndim, shape);
    LMTFL_CALL(L, mtfl_maxpool2d_backward(dx, dy, idx, &g));
    return 1;
}

/* avgpool2d(x, {kernel, stride, padding, ceil}) -> y */
static int l_avgpool2d(lua_State *L)
{
    mtfl_tensor *x = lmtfl_check_tensor(L, 1);
    mtfl_window g = pool_window(L, 2, "avgpool2d");
    int64_t shape[4];
    LMTFL_CALL(L, mtfl_avgpool2d_shape(x->ndim, x->shape, &g, shape));
    mtfl_tensor *y = lmtfl_new_tensor(L, mtfl_tensor_device(x), 4, shape);
    LMTFL_CALL(L, mtfl_avgpool2d_forward(y, x, &g));
    return 1;
}

/* avgpool2d_shape(input_shape, options) -> output shape */
static int l_avgpool2d_shape(lua_State *L)
{
    int64_t xs[MTFL_MAX_DIMS], out[4];
    int xn = shape_arg(L, 1, xs);
    mtfl_window g = pool_window(L, 2, "avgpool2d");
    LMTFL_CALL(L, mtfl_avgpool2d_shape(xn, xs, &g, out));
    lmtfl_push_dims(L, 4, out);
    return 1;
}

/* avgpool2d_backward(dy, input_shape, options) -> dx */
static int l_avgpool2d_backward(lua_State *L)
{
    mtfl_tensor *dy = lmtfl_check_tensor(L, 1);
    int64_t shape[MTFL_MAX_DIMS];
    int ndim = shape_arg(L, 2, shape);
    mtfl_window g = pool_window(L, 3, "avgpool2d_backward");
    mtfl_tensor *dx = lmtfl_new_tensor(L, mtfl_tensor_device(dy), ndim, shape);
    LMTFL_CALL(L, mtfl_avgpool2d_backward(dx, dy, &g));
    return 1;
}

static bool opt_bool_field(lua_State *L, int opts, const char *key, bool def)
{
    if (lua_isnoneornil(L, opts)) return def;
    lua_getfield(L, opts, key);
    bool v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* batchnorm(x, weight_or_nil, bias_or_nil, {training, momentum = 0.1, eps = 1e-5,
 * running_mean =, running_var =, mean =, var =}) -> y, mean, var. Training: mean and
 * var are the batch's (new tensors) and the running ones (if given) are updated;
 * otherwise the given mean and var (the running statistics) are used and returned. */
static int l_batchnorm(lua_State *L)
{
    mtfl_tensor *x = lmtfl_check_tensor(L, 1);
    mtfl_tensor *w = lua_isnoneornil(L, 2) ? NULL : lmtfl_check_tensor(L, 2);
    mtfl_tensor *b = lua_isnoneornil(L, 3) ? NULL : lmtfl_check_tensor(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    bool training = opt_bool_field(L, 4, "training", true);
    float momentum = opt_float_field(L, 4, "momentum", 0.1f), eps = opt_float_field(L, 4, "eps", 1e-5f);
    mtfl_tensor *rm = opt_tensor_field(L, 4, "running_mean"), *rv = opt_tensor_field(L, 4, "running_var");
    char s[128];
    if (x->ndim < 2)
        lmtfl_error(L, "batchnorm: input %s is not [N, C, ...]", mtfl_shape_str(x, s, sizeof s));
    mtfl_tensor *y = lmtfl_new_like(L, x);
    mtfl_tensor *mean, *var;
    if (training) {
        mean = lmtfl_new_tensor(L, mtfl_tensor_device(x), 1, &x->shape[1]);
        var = lmtfl_new_tensor(L, mtfl_tensor_device(x), 1, &x->shape[1]);
    } else {
        mean = opt_tensor_field(L, 4, "mean");
        var = opt_tensor_field(L, 4, "var");
        if (!mean || !var) lmtfl_error(L, "batchnorm: evaluation needs options mean and var");
        lua_getfield(L, 4, "mean");
        lua_getfield(L, 4, "var");
    }
    LMTFL_CALL(L, mtfl_batchnorm_forward(y, mean, var, training ? rm : NULL, training ? rv : NULL,
                                         x, w, b, training, momentum, eps));
    return 3;
}

/* batchnorm_backward(dy, x, mean, var, weight_or_nil, {training, eps, dweight =,
 * dbias =, need_dx = true}) -> dx or nil; dweight and dbias are accumulated into */
static int l_batchnorm_backward(lua_State *L)
{
    mtfl_tensor *dy = lmtfl_check_tensor(L, 1), *x = lmtfl_check_tensor(L, 2);
    mtfl_tensor *mean = lmtfl_check_tensor(L, 3), *var = lmtfl_check_tensor(L, 4);
    mtfl_tensor *w = lua_isnoneornil(L, 5) ? NULL : lmtfl_check_tensor(L, 5);
    luaL_checktype(L, 6, LUA_TTABLE);
    bool training = opt_bool_field(L, 6, "training", true);
    bool need_dx = opt_bool_field(L, 6, "need_dx", true);
    float eps = opt_float_field(L, 6, "eps", 1e-5f);
    mtfl_tensor *dw = opt_tensor_field(L, 6, "dweight"), *db = opt_tensor_field(L, 6, "dbias");
    mtfl_tensor *dx = need_dx ? lmtfl_new_like(L, x) : NULL;
    if (!need_dx) lua_pushnil(L);
    LMTFL_CALL(L, mtfl_batchnorm_backward(dx, dw, db, dy, x, mean, var, w, training, eps));
    return 1;
}

/* add_channel_bias_(x, bias, dim) -> x */
static int l_add_channel_bias(lua_State *L)
{
    mtfl_tensor *x = lmtfl_check_tensor(L, 1), *b = lmtfl_check_tensor(L, 2);
    int dim = lmtfl_check_dim(L, 3, x);
    LMTFL_CALL(L, mtfl_add_channel_bias(x, b, dim));
    lua_settop(L, 1);
    return 1;
}

static int l_softmax(lua_State *L)
{
    mtfl_tensor *logits = lmtfl_check_tensor(L, 1);
    mtfl_tensor *p = lmtfl_new_like(L, logits);
    LMTFL_CALL(L, mtfl_softmax(p, logits));
    return 1;
}

/* cross_entropy(logits, labels [, {grad = true, scale = 1}]) -> loss per sample, grad.
 * The labels are not read (that would wait for the device): one that is not a class
 * number 1..K gives its sample a NaN loss, and check_labels names it. */
static int l_cross_entropy(lua_State *L)
{
    mtfl_tensor *logits = lmtfl_check_tensor(L, 1), *labels = lmtfl_check_tensor(L, 2);
    bool want_grad = true;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "grad");
        want_grad = lua_isnil(L, -1) || lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    float scale = opt_float_field(L, 3, "scale", 1.0f);
    char s[128];
    if (logits->ndim != 2)
        lmtfl_error(L, "cross_entropy: logits %s are not [N, classes]", mtfl_shape_str(logits, s, sizeof s));
    mtfl_tensor *loss = lmtfl_new_tensor(L, mtfl_tensor_device(logits), 1, logits->shape);
    mtfl_tensor *grad = want_grad ? lmtfl_new_like(L, logits) : NULL;
    if (!want_grad) lua_pushnil(L);
    LMTFL_CALL(L, mtfl_softmax_cross_entropy(loss, grad, logits, labels, 1, scale));
    return 2;
}

/* landmark_loss(prediction, target, {kind = "l2" | "l1" | "smooth_l1" | "wing", w, epsilon,
 * beta, weight = [N] tensor or nil, grad = true, scale = 1}) -> loss per face [N], grad */
static int l_landmark_loss(lua_State *L)
{
    static const char *const kinds[] = {"l2", "l1", "smooth_l1", "wing", NULL};
    mtfl_tensor *pred = lmtfl_check_tensor(L, 1), *target = lmtfl_check_tensor(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_getfield(L, 3, "kind");
    int kind = luaL_checkoption(L, -1, "l2", kinds);
    lua_getfield(L, 3, "grad");
    bool want_grad = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_getfield(L, 3, "weight");
    mtfl_tensor *weight = lua_isnil(L, -1) ? NULL : lmtfl_test_tensor(L, -1);
    if (!weight && !lua_isnil(L, -1))
        lmtfl_error(L, "landmark_loss: weight must be a [N] tensor, got a %s", luaL_typename(L, -1));
    mtfl_landmark_loss_config c = {
        .kind = (mtfl_landmark_kind)kind,
        .w = opt_float_field(L, 3, "w", 10.0f),
        .epsilon = opt_float_field(L, 3, "epsilon", 2.0f),
        .beta = opt_float_field(L, 3, "beta", 1.0f),
    };
    float scale = opt_float_field(L, 3, "scale", 1.0f);
    char s[128];
    if (pred->ndim != 2)
        lmtfl_error(L, "landmark_loss: prediction %s is not [N, coordinates]", mtfl_shape_str(pred, s, sizeof s));
    mtfl_tensor *loss = lmtfl_new_tensor(L, mtfl_tensor_device(pred), 1, pred->shape);
    mtfl_tensor *grad = want_grad ? lmtfl_new_like(L, pred) : NULL;
    if (!want_grad) lua_pushnil(L);
    LMTFL_CALL(L, mtfl_landmark_loss(loss, grad, pred, target, weight, &c, scale));
    return 2;
}

/* check_labels(labels, classes): an error naming the first label that is not 1..classes */
static int l_check_labels(lua_State *L)
{
    mtfl_tensor *labels = lmtfl_check_tensor(L, 1);
    lua_Integer classes = luaL_checkinteger(L, 2);
    LMTFL_CALL(L, mtfl_check_labels(labels, classes, 1));
    return 0;
}

static int activation_backward(lua_State *L, mtfl_binary_op op)
{
    mtfl_tensor *dy = lmtfl_check_tensor(L, 1), *y = lmtfl_check_tensor(L, 2);
    char a[128], b[128];
    if (!mtfl_same_shape(dy, y))
        lmtfl_error(L, "%s: gradOutput %s and output %s differ", mtfl_binary_name(op),
                    mtfl_shape_str(dy, a, sizeof a), mtfl_shape_str(y, b, sizeof b));
    mtfl_tensor *dx = lmtfl_new_like(L, dy);
    LMTFL_CALL(L, mtfl_binary(op, dx, dy, y));
    return 1;
}

static int l_relu_backward(lua_State *L) { return activation_backward(L, MTFL_BINARY_RELU_GRAD); }
static int l_tanh_backward(lua_State *L) { return activation_backward(L, MTFL_BINARY_TANH_GRAD); }
static int l_sigmoid_backward(lua_State *L) { return activation_backward(L, MTFL_BINARY_SIGMOID_GRAD); }

/* leaky_relu_backward(dy, x, slope): x may also be the output when slope >= 0 (its
 * sign is then the input's) */
static int l_leaky_relu_backward(lua_State *L)
{
    mtfl_tensor *dy = lmtfl_check_tensor(L, 1), *x = lmtfl_check_tensor(L, 2);
    float slope = (float)luaL_checknumber(L, 3);
    char a[128], b[128];
    if (!mtfl_same_shape(dy, x))
        lmtfl_error(L, "leaky_relu_backward: gradOutput %s and input %s differ",
                    mtfl_shape_str(dy, a, sizeof a), mtfl_shape_str(x, b, sizeof b));
    mtfl_tensor *dx = lmtfl_new_like(L, dy);
    LMTFL_CALL(L, mtfl_binary_param(MTFL_BINARY_LEAKY_RELU_GRAD, dx, dy, x, slope));
    return 1;
}

/* abs_tanh_backward(dy, x): from the input, whose sign the output has lost */
static int l_abs_tanh_backward(lua_State *L)
{
    mtfl_tensor *dy = lmtfl_check_tensor(L, 1), *x = lmtfl_check_tensor(L, 2);
    char a[128], b[128];
    if (!mtfl_same_shape(dy, x))
        lmtfl_error(L, "abs_tanh_backward: gradOutput %s and input %s differ",
                    mtfl_shape_str(dy, a, sizeof a), mtfl_shape_str(x, b, sizeof b));
    mtfl_tensor *dx = lmtfl_new_like(L, dy);
    LMTFL_CALL(L, mtfl_binary(MTFL_BINARY_ABS_TANH_GRAD, dx, dy, x));
    return 1;
}

/* prelu(x, slope) -> y; slope [C] for dimension 2 of x, or [1] shared */
static int l_prelu(lua_State *L)
{
    mtfl_tensor *x = lmtfl_check_tensor(L, 1), *slope = lmtfl_check_tensor(L, 2);
    mtfl_tensor *y = lmtfl_new_like(L, x);
    LMTFL_CALL(L, mtfl_prelu_forward(y, x, slope));
    return 1;
}

/* prelu_backward(dy, x, slope [, dslope [, need_dx = true]]) -> dx or nil; the slope's
 * gradient is added into dslope when given */
static int l_prelu_backward(lua_State *L)
{
    mtfl_tensor *dy = lmtfl_check_tensor(L, 1), *x = lmtfl_check_tensor(L, 2);
    mtfl_tensor *slope = lmtfl_check_tensor(L, 3);
    mtfl_tensor *dslope = lua_isnoneornil(L, 4) ? NULL : lmtfl_check_tensor(L, 4);
    bool need_dx = lua_isnoneornil(L, 5) || lua_toboolean(L, 5);
    mtfl_tensor *dx = need_dx ? lmtfl_new_like(L, x) : NULL;
    if (!need_dx) lua_pushnil(L);
    LMTFL_CALL(L, mtfl_prelu_backward(dx, dslope, dy, x, slope));
    return 1;
}

/* adam_step(param, grad, m, v, {lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay,
 * step}) */
static int l_adam_step(lua_State *L)
{
    mtfl_tensor *p = lmtfl_check_tensor(L, 1), *g = lmtfl_check_tensor(L, 2);
    mtfl_tensor *m = lmtfl_check_tensor(L, 3), *v = lmtfl_check_tensor(L, 4);
    luaL_checktype(L, 5, LUA_TTABLE);
    mtfl_adam_config c = {
        .lr = opt_float_field(L, 5, "lr", 1e-3f),
        .beta1 = opt_float_field(L, 5, "beta1", 0.9f),
        .beta2 = opt_float_field(L, 5, "beta2", 0.999f),
        .eps = opt_float_field(L, 5, "eps", 1e-8f),
        .weight_decay = opt_float_field(L, 5, "weight_decay", 0.0f),
        .decoupled_weight_decay = opt_float_field(L, 5, "decoupled_weight_decay", 0.0f),
    };
    lua_getfield(L, 5, "step");
    lua_Integer step = luaL_checkinteger(L, -1);
    LMTFL_CALL(L, mtfl_adam_step(p, g, m, v, &c, step));
    return 0;
}

/* sgd_step(param, grad, velocity_or_nil, {lr, momentum, weight_decay}) */
static int l_sgd_step(lua_State *L)
{
    mtfl_tensor *p = lmtfl_check_tensor(L, 1), *g = lmtfl_check_tensor(L, 2);
    mtfl_tensor *vel = lua_isnoneornil(L, 3) ? NULL : lmtfl_check_tensor(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    float lr = opt_float_field(L, 4, "lr", 1e-2f), momentum = opt_float_field(L, 4, "momentum", 0.0f);
    float wd = opt_float_field(L, 4, "weight_decay", 0.0f);
    LMTFL_CALL(L, mtfl_sgd_step(p, g, vel, lr, momentum, wd));
    return 0;
}

/* workspace_limit([bytes [, device]]) -> bytes: sets the convolution workspace budget
 * of every device (0: each device's own), returns the one in force on the device */
static int l_workspace_limit(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) {
        lua_Integer bytes = luaL_checkinteger(L, 1);
        if (bytes < 0) luaL_argerror(L, 1, "negative workspace limit");
        mtfl_set_workspace_limit((size_t)bytes);
    }
    lua_pushinteger(L, (lua_Integer)mtfl_workspace_limit(lmtfl_opt_device(L, 2)));
    return 1;
}

static const luaL_Reg nn_functions[] = {
    {"conv2d", l_conv2d}, {"conv2d_backward", l_conv2d_backward}, {"conv2d_shape", l_conv2d_shape},
    {"maxpool2d", l_maxpool2d}, {"maxpool2d_backward", l_maxpool2d_backward},
    {"maxpool2d_shape", l_maxpool2d_shape},
    {"avgpool2d", l_avgpool2d}, {"avgpool2d_backward", l_avgpool2d_backward},
    {"avgpool2d_shape", l_avgpool2d_shape},
    {"batchnorm", l_batchnorm}, {"batchnorm_backward", l_batchnorm_backward},
    {"add_channel_bias_", l_add_channel_bias}, {"softmax", l_softmax},
    {"cross_entropy", l_cross_entropy}, {"check_labels", l_check_labels},
    {"landmark_loss", l_landmark_loss},
    {"relu_backward", l_relu_backward}, {"leaky_relu_backward", l_leaky_relu_backward},
    {"abs_tanh_backward", l_abs_tanh_backward}, {"prelu", l_prelu},
    {"prelu_backward", l_prelu_backward},
    {"tanh_backward", l_tanh_backward}, {"sigmoid_backward", l_sigmoid_backward},
    {"adam_step", l_adam_step}, {"sgd_step", l_sgd_step},
    {"workspace_limit", l_workspace_limit},
    {NULL, NULL}};

/* Expects the module table on top of the stack. */
void lmtfl_open_nn(lua_State *L) { luaL_setfuncs(L, nn_functions, 0); }
