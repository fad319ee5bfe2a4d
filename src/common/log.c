// log.c: timestamped log lines to stdout and to the run folder's logging_history.log.
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static bool g_enabled = true;
static LogLevel g_level = LOG_INFO;
static FILE *g_file = NULL;
static bool g_line_pending = false;

void log_setup(bool enabled, LogLevel level) {
    g_enabled = enabled;
    g_level = level;
}

bool log_enabled(void) { return g_enabled; }

int log_open_file(const char *path) {
    if (!g_enabled) return 0;
    log_close_file();
    g_file = fopen(path, "a");
    return g_file ? 0 : -1;
}

void log_close_file(void) {
    if (g_file) fclose(g_file);
    g_file = NULL;
}

void log_set_line_clear(bool pending) { g_line_pending = pending; }

static const char *level_name(LogLevel l) {
    switch (l) {
    case LOG_DEBUG: return "DEBUG";
    case LOG_INFO: return "INFO";
    case LOG_WARNING: return "WARNING";
    default: return "ERROR";
    }
}

void log_msg(LogLevel level, const char *logger, const char *fmt, ...) {
    if (!g_enabled || level < g_level) return;
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_line_pending) {
        fputs("\r\033[K", stdout);
        g_line_pending = false;
    }
    FILE *out = level >= LOG_WARNING ? stderr : stdout;
    fprintf(out, "%s - %s - %s - %s\n", stamp, level_name(level), logger, msg);
    fflush(out);
    if (g_file) {
        fprintf(g_file, "%s - %s - %s - %s\n", stamp, level_name(level), logger, msg);
        fflush(g_file);
    }
}
