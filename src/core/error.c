/*
 * error.c - the one error mechanism of the core: a thread-local status and message.
 *
 * Functions return a status (or NULL) and leave the message here; the caller that can
 * report it (the Lua bindings, a test) reads it. Thread-local because the data loader
 * runs ops on a background thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mtfl.h"

static _Thread_local char last_message[2048];
static _Thread_local mtfl_status last_code = MTFL_OK;

const char *mtfl_last_error(void) { return last_message[0] ? last_message : "no error"; }

mtfl_status mtfl_last_status(void) { return last_code; }

void mtfl_clear_error(void)
{
    last_message[0] = '\0';
    last_code = MTFL_OK;
}

mtfl_status mtfl_fail(mtfl_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    last_code = code;
    return code;
}

mtfl_status mtfl_fail_at(mtfl_status code, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int used = vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    if (used >= 0 && (size_t)used < sizeof last_message) {
        const char *base = strrchr(file, '/');
        snprintf(last_message + used, sizeof last_message - (size_t)used, " (%s:%d)",
                 base ? base + 1 : file, line);
    }
    last_code = code;
    return code;
}
