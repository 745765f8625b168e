/* Leveled, line-oriented logging to stderr: one line per event with time, level, module.
 * The level is checked before arguments are evaluated. Thread-safe (one write per line). */
#pragma once
#include <stdnoreturn.h>
#include "compiler.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 };

extern enum log_level log_min_level;

void log_set_level(enum log_level lvl);
/* Parses "debug", "info", "warn", "error", "off"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
void log_write(enum log_level lvl, const char *module, const char *fmt, ...) PRINTF_LIKE(3, 4);
noreturn void log_fatal(const char *module, const char *fmt, ...) PRINTF_LIKE(2, 3);

#define log_debug(mod, ...) do { if (log_min_level <= LOG_DEBUG) log_write(LOG_DEBUG, mod, __VA_ARGS__); } while (0)
#define log_info(mod, ...)  do { if (log_min_level <= LOG_INFO)  log_write(LOG_INFO, mod, __VA_ARGS__); } while (0)
#define log_warn(mod, ...)  do { if (log_min_level <= LOG_WARN)  log_write(LOG_WARN, mod, __VA_ARGS__); } while (0)
#define log_error(mod, ...) do { if (log_min_level <= LOG_ERROR) log_write(LOG_ERROR, mod, __VA_ARGS__); } while (0)
