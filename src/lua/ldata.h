/*
 * ldata.h - what the data binding files (ldata.c, ldata_augment.c, ldata_image.c,
 * ldata_lists.c, ldata_metrics.c) share: the image and set userdata, option readers,
 * and each file's registration.
 */
#ifndef MTFL_LDATA_H
#define MTFL_LDATA_H

#include "lbind.h"
#include "../data/mtfl_data.h"

#define IMAGE_T "mtfl.data.Image"

typedef struct { mtfl_image img; } image_box;

/* Options in a table at index opts (absent or nil: the default). has_field leaves the
 * value on the stack when it returns true. A value of the wrong type raises an error
 * naming the option. */
bool ldata_has_field(lua_State *L, int opts, const char *key);
double ldata_opt_number(lua_State *L, int opts, const char *key, double def);
int ldata_opt_int(lua_State *L, int opts, const char *key, int def);
bool ldata_opt_bool(lua_State *L, int opts, const char *key, bool def);
const char *ldata_opt_string(lua_State *L, int opts, const char *key, const char *def);

mtfl_on_error ldata_opt_on_error(lua_State *L, int opts);   /* on_error = "stop" | "skip" */

void ldata_push_floats(lua_State *L, const float *v, int n);
/* A set userdata taking over the reference to s (NULL: raises the core's error). */
void ldata_push_set(lua_State *L, mtfl_set *s);
/* {count = n, message, ...}: the problems counted and the messages kept. */
void ldata_push_problems(lua_State *L, const mtfl_problems *p);
/* ldata_augment.c: the augment table at idx (nil or false: none), every field checked;
 * and an mtfl_augment pushed as such a table. */
mtfl_augment ldata_check_augment(lua_State *L, int idx);
void ldata_push_augment(lua_State *L, const mtfl_augment *a);
/* A new w x h RGB image userdata, pushed. */
image_box *ldata_new_image(lua_State *L, int w, int h);
/* A metatable with methods as __index and gc as __gc and __close. */
void ldata_new_type(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc);

/* Each adds its functions to the table on top of the stack. */
void ldata_open_images(lua_State *L);
void ldata_open_metrics(lua_State *L);
void ldata_open_lists(lua_State *L);

#endif
