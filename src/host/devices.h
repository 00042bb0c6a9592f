/*
 * devices.h - the host's view of mtfl's devices: --device, --devices and the banner.
 */
#ifndef MTFL_HOST_DEVICES_H
#define MTFL_HOST_DEVICES_H

#include <stdbool.h>
#include <stddef.h>

#include <lua.h>

/* mtfl.set_device(spec); reports the failure and returns false if it raises. */
bool host_set_device(lua_State *L, const char *spec);

/* Prints mtfl.devices() as a table, the default one marked with '*'. */
bool host_list_devices(lua_State *L);

/* Copies the id of the default device (mtfl.device()) into buf; false when the module
 * has no such function or it fails. */
bool host_default_device(lua_State *L, char *buf, size_t size);

#endif
