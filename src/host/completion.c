/*
 * completion.c - readline tab completion of Lua globals, fields and methods.
 *
 * The word under the cursor is a dotted path such as `mtfl.nn.Li` or `x:resh`. The
 * path is resolved against the live state, but only with raw lookups plus __index
 * tables: completing must never run user code (a metamethod could block, fail or have
 * side effects in the middle of typing).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <readline/readline.h>

#include "completion.h"

/* How deep to follow __index tables: protects against cycles in metatables. */
#define MAX_INDEX_CHAIN 32
/* More candidates than this are useless on a terminal and cost memory. */
#define MAX_CANDIDATES 5000

static lua_State *completion_state;

static struct {
    char **items;
    size_t count, next;
} candidates;

static const char *const keywords[] = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto",
    "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true",
    "until", "while", NULL,
};

static bool is_keyword(const char *s, size_t len)
{
    for (int i = 0; keywords[i]; i++)
        if (strlen(keywords[i]) == len && memcmp(keywords[i], s, len) == 0)
            return true;
    return false;
}

static bool is_identifier(const char *s, size_t len)
{
    if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
                      s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return !is_keyword(s, len);
}

static void clear_candidates(void)
{
    for (size_t i = 0; i < candidates.count; i++)
        free(candidates.items[i]);
    free(candidates.items);
    candidates.items = NULL;
    candidates.count = candidates.next = 0;
}

/* The word being completed, split into the path before the last separator and the
 * partial name after it. */
typedef struct {
    const char *word;
    size_t path_len; /* bytes of `word` before the separator; 0 for a bare name */
    char separator;  /* '.', ':' or 0 */
    const char *partial;
} completion_word;

/* With the metatable on top, pushes where lookups continue: __index when it is a
 * table. A function __index cannot be looked into without calling it, but mtfl's
 * tensors keep their methods in metatable.methods next to it, so that is used then. */
static void push_lookup_table(lua_State *L)
{
    lua_pushliteral(L, "__index");
    if (lua_rawget(L, -2) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_pushliteral(L, "methods");
    if (lua_rawget(L, -2) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_pushnil(L);
}

/* Pushes field `key` of the value at idx, looking through __index tables (see
 * push_lookup_table) but never calling anything; nil when absent. */
static void push_field(lua_State *L, int idx, const char *key, size_t len)
{
    lua_pushvalue(L, idx);
    for (int depth = 0; depth < MAX_INDEX_CHAIN; depth++) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pushlstring(L, key, len);
            if (lua_rawget(L, -2) != LUA_TNIL) {
                lua_remove(L, -2);
                return;
            }
            lua_pop(L, 1);
        }
        if (!lua_getmetatable(L, -1))
            break;
        push_lookup_table(L);
        lua_replace(L, -3); /* it replaces the object */
        lua_pop(L, 1);      /* the metatable */
    }
    lua_pop(L, 1);
    lua_pushnil(L);
}

/* Resolves the dotted path of the word, starting at the globals. */
static bool push_path(lua_State *L, const completion_word *w)
{
    lua_pushglobaltable(L);
    const char *p = w->word, *end = w->word + w->path_len;
    while (p < end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t len = dot ? (size_t)(dot - p) : (size_t)(end - p);
        if (!is_identifier(p, len))
            return false;
        push_field(L, -1, p, len);
        lua_remove(L, -2);
        if (lua_isnil(L, -1))
            return false;
        p += len + 1;
    }
    return true;
}

/* Callable tables are usually constructors (`nn.Linear(...)`), so they get no "." */
static const char *suffix_for(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TFUNCTION:
        return "(";
    case LUA_TTABLE:
        if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
            lua_pop(L, 1);
            return "";
        }
        return ".";
    default:
        return "";
    }
}

/* Adds, to the set at `set`, the names in the table at -1 (and in its __index tables)
 * that start with the partial word. */
static void collect_names(lua_State *L, int set, const completion_word *w, bool methods)
{
    size_t partial_len = strlen(w->partial);
    for (int depth = 0; depth < MAX_INDEX_CHAIN; depth++) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                size_t len = 0;
                /* lua_tolstring would turn number keys into strings and upset lua_next */
                const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len)
                                                                  : NULL;
                bool wanted = name && len >= partial_len &&
                              memcmp(name, w->partial, partial_len) == 0 &&
                              is_identifier(name, len) &&
                              (!methods || lua_type(L, -1) == LUA_TFUNCTION);
                lua_pushvalue(L, -2);
                if (wanted && lua_rawget(L, set) == LUA_TNIL) { /* nearer tables win */
                    lua_pop(L, 1);
                    lua_pushvalue(L, -2);
                    lua_pushfstring(L, "%s%s", name, suffix_for(L, -2));
                    lua_rawset(L, set);
                } else {
                    lua_pop(L, 1);
                }
                lua_pop(L, 1);
            }
        }
        if (!lua_getmetatable(L, -1))
            return;
        push_lookup_table(L);
        lua_replace(L, -3);
        lua_pop(L, 1);
    }
}

static int gather(lua_State *L)
{
    const completion_word *w = lua_touserdata(L, 1);
    lua_newtable(L); /* name -> name with suffix */
    int set = lua_gettop(L);

    if (w->separator == 0) {
        size_t partial_len = strlen(w->partial);
        for (int i = 0; keywords[i]; i++)
            if (strncmp(keywords[i], w->partial, partial_len) == 0) {
                lua_pushstring(L, keywords[i]);
                lua_pushstring(L, keywords[i]);
                lua_rawset(L, set);
            }
        lua_pushglobaltable(L);
        collect_names(L, set, w, false);
    } else if (push_path(L, w)) {
        collect_names(L, set, w, w->separator == ':');
    }
    lua_settop(L, set);

    size_t prefix_len = w->path_len + (w->separator ? 1 : 0);
    lua_pushnil(L);
    while (lua_next(L, set) && candidates.count < MAX_CANDIDATES) {
        const char *tail = lua_tostring(L, -1);
        size_t size = prefix_len + strlen(tail) + 1;
        char *item = malloc(size);
        char **grown = realloc(candidates.items, (candidates.count + 1) * sizeof *grown);
        if (item == NULL || grown == NULL) {
            free(item);
            if (grown)
                candidates.items = grown;
            return 0;
        }
        candidates.items = grown;
        memcpy(item, w->word, prefix_len);
        strcpy(item + prefix_len, tail);
        candidates.items[candidates.count++] = item;
        lua_pop(L, 1);
    }
    return 0;
}

static char *next_candidate(const char *text, int state)
{
    (void)text; /* the candidates were already filtered by gather */
    if (state == 0)
        candidates.next = 0;
    if (candidates.next >= candidates.count)
        return NULL;
    return strdup(candidates.items[candidates.next++]);
}

static char **complete(const char *text, int start, int end)
{
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    rl_completion_suppress_append = 1; /* the suffix, if any, is part of the candidate */

    completion_word w = {.word = text};
    const char *sep = NULL;
    for (const char *p = text; *p; p++)
        if (*p == '.' || *p == ':')
            sep = p;
    if (sep) {
        w.path_len = (size_t)(sep - text);
        w.separator = *sep;
        w.partial = sep + 1;
        /* "a:b.c" is no method call, and ".x" follows an expression we cannot see */
        if (w.path_len == 0 || memchr(text, ':', w.path_len))
            return NULL;
    } else {
        w.partial = text;
    }

    clear_candidates();
    lua_State *L = completion_state;
    int top = lua_gettop(L);
    lua_pushcfunction(L, gather);
    lua_pushlightuserdata(L, &w);
    lua_pcall(L, 1, 0, 0); /* on failure (memory), offer what was gathered so far */
    lua_settop(L, top);
    if (candidates.count == 0)
        return NULL;
    return rl_completion_matches(text, next_candidate);
}

void host_completion_install(lua_State *L)
{
    completion_state = L;
    rl_attempted_completion_function = complete;
    /* '.' and ':' are not breaks, so the whole path is one word. */
    rl_completer_word_break_characters = " \t\n\"\\'`@$><=;|&{}()[],+-*/%^#~";
}
