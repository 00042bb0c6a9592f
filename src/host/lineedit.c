/*
 * lineedit.c - terminal line input: readline, history file, Ctrl-C at the prompt.
 *
 * readline's callback interface is used instead of readline() so that waiting for a
 * key is our own pselect: a Ctrl-C then simply interrupts that wait, and the line can
 * be thrown away cleanly, instead of readline's own handler re-raising SIGINT at a
 * program that would die of it (or having to longjmp out of readline).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "completion.h"
#include "lineedit.h"

#define HISTORY_LIMIT 1000

static char *history_path; /* NULL: no history file */

static volatile sig_atomic_t got_sigint, got_sigwinch;

static char *finished_line;
static bool line_done;

static void on_signal(int sig)
{
    if (sig == SIGINT)
        got_sigint = 1;
    else
        got_sigwinch = 1;
}

static char *choose_history_path(void)
{
    const char *env = getenv("MTFL_LUA_HISTORY");
    if (env && *env)
        return strdup(env);
    const char *home = getenv("HOME");
    if (home == NULL || *home == '\0')
        return NULL;
    const char *name = "/.mtfl_lua_history";
    char *path = malloc(strlen(home) + strlen(name) + 1);
    if (path) {
        strcpy(path, home);
        strcat(path, name);
    }
    return path;
}

void host_lineedit_open(lua_State *L)
{
    rl_readline_name = "mtfl-lua"; /* for $if mtfl-lua in ~/.inputrc */
    /* Signals stay ours: SIGINT must discard the line (see host_lineedit_read), and
     * during a computation it belongs to host_docall. */
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    host_completion_install(L);

    history_path = choose_history_path();
    if (history_path == NULL)
        return;
    /* append_history only appends to an existing file. */
    int fd = open(history_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) {
        free(history_path);
        history_path = NULL;
        return;
    }
    close(fd);
    read_history(history_path);
    stifle_history(HISTORY_LIMIT);
    history_truncate_file(history_path, HISTORY_LIMIT);
}

static void on_line(char *line)
{
    finished_line = line;
    line_done = true;
    rl_callback_handler_remove();
}

static void discard_line(void)
{
    rl_free_line_state();
    rl_callback_sigcleanup();
    rl_replace_line("", 0);
    rl_callback_handler_remove();
    using_history(); /* up-arrow starts from the newest entry again */
    fputs("\n", rl_outstream ? rl_outstream : stdout);
}

host_line_status host_lineedit_read(const char *prompt, char **line)
{
    *line = NULL;
    finished_line = NULL;
    line_done = false;
    got_sigint = got_sigwinch = 0;

    /* SIGINT and SIGWINCH are only let through while waiting in pselect, so one that
     * comes while readline works on a key is seen at the next wait, not lost. */
    sigset_t blocked, saved, waiting;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGWINCH);
    sigprocmask(SIG_BLOCK, &blocked, &saved);
    waiting = saved;
    sigdelset(&waiting, SIGINT);
    sigdelset(&waiting, SIGWINCH);

    struct sigaction handler = {0}, old_int, old_winch;
    handler.sa_handler = on_signal;
    sigemptyset(&handler.sa_mask);
    sigaction(SIGINT, &handler, &old_int);
    sigaction(SIGWINCH, &handler, &old_winch);

    host_line_status status = HOST_LINE_OK;
    rl_callback_handler_install(prompt, on_line);
    int fd = fileno(rl_instream ? rl_instream : stdin);
    while (!line_done) {
        if (got_sigint) {
            discard_line();
            status = HOST_LINE_INTERRUPTED;
            break;
        }
        if (got_sigwinch) {
            got_sigwinch = 0;
            rl_resize_terminal();
        }
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(fd, &readable);
        if (pselect(fd + 1, &readable, NULL, NULL, NULL, &waiting) < 0) {
            if (errno == EINTR)
                continue;
            rl_callback_handler_remove();
            status = HOST_LINE_EOF;
            break;
        }
        rl_callback_read_char();
    }

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGWINCH, &old_winch, NULL);
    sigprocmask(SIG_SETMASK, &saved, NULL);

    if (status == HOST_LINE_OK) {
        if (finished_line == NULL)
            return HOST_LINE_EOF;
        *line = finished_line;
    }
    return status;
}

void host_lineedit_remember(const char *line)
{
    if (*line == '\0')
        return;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1)
                                          : NULL;
    if (last && strcmp(last->line, line) == 0)
        return;
    add_history(line);
    /* Appending each line as it comes keeps it even when the session ends through
     * os.exit or a crash, and interleaves sessions running side by side. */
    if (history_path)
        append_history(1, history_path);
}

void host_lineedit_close(void)
{
    if (history_path) {
        history_truncate_file(history_path, HISTORY_LIMIT);
        free(history_path);
        history_path = NULL;
    }
}
