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

/* The message is formatted aside and then stored: callers often wrap the previous
 * error ("no MTFL data in D: %s", mtfl_last_error()), and formatting straight into
 * last_message would overwrite the text while reading it. */
static mtfl_status store(mtfl_status code, const char *file, int line, const char *fmt, va_list ap)
{
    char message[sizeof last_message];
    int used = vsnprintf(message, sizeof message, fmt, ap);
    if (file && used >= 0 && (size_t)used < sizeof message) {
        const char *base = strrchr(file, '/');
        snprintf(message + used, sizeof message - (size_t)used, " (%s:%d)", base ? base + 1 : file,
                 line);
    }
    memcpy(last_message, message, sizeof message);
    last_code = code;
    return code;
}

mtfl_status mtfl_fail(mtfl_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    store(code, NULL, 0, fmt, ap);
    va_end(ap);
    return code;
}

mtfl_status mtfl_fail_at(mtfl_status code, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    store(code, file, line, fmt, ap);
    va_end(ap);
    return code;
}
