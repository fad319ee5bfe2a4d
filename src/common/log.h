// log.h: the run's log lines, to the console and to <run>/logging_history.log (spec §5:
// "time - LEVEL - logger - msg"). Only rank 0 logs; other ranks' calls are no-ops.
#pragma once
#include <stdbool.h>
#include "common/util.h"

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARNING = 2, LOG_ERROR = 3 } LogLevel;

// enabled = false silences this process (non-zero ranks).
void log_setup(bool enabled, LogLevel level);
// Starts copying every line to path (appending). Returns 0 or -1 with errno.
int log_open_file(const char *path);
void log_close_file(void);
void log_msg(LogLevel level, const char *logger, const char *fmt, ...) EIR_PRINTF(3, 4);
// Clears a progress bar line on a terminal before a log line is printed.
void log_set_line_clear(bool pending);
bool log_enabled(void);
