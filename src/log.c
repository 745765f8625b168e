/* Leveled logging to stderr. Each event becomes exactly one line written with a single
 * write(2), so lines from concurrent threads never interleave; lines longer than the
 * stack buffer are truncated rather than split. Control bytes in messages are replaced so a
 * client-supplied string can never forge an extra log line. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

enum log_level log_min_level = LOG_INFO;

static const char level_letter[] = { 'D', 'I', 'W', 'E' };
static const char *const level_names[] = { "debug", "info", "warn", "error", "off" };

void log_set_level(enum log_level lvl)
{
    if ((int)lvl < LOG_DEBUG || lvl > LOG_OFF)
        lvl = LOG_INFO;
    log_min_level = lvl;
}

int log_level_parse(const char *s, enum log_level *out)
{
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

static size_t format_prefix(char *line, size_t cap, char letter, const char *module)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %c %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000L, letter, module ? module : "-");
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

static void vlog_line(char letter, const char *module, const char *fmt, va_list ap)
    PRINTF_LIKE(3, 0);

static void vlog_line(char letter, const char *module, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    int saved_errno = errno;
    size_t cap = sizeof(line) - 1; /* keep room for the newline */
    size_t len = format_prefix(line, cap, letter, module);
    size_t start = len;
    int n = vsnprintf(line + len, cap - len, fmt, ap);
    if (n > 0)
        len += (size_t)n < cap - len ? (size_t)n : cap - len - 1;
    for (size_t i = start; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            line[i] = '?';
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere to report a failing stderr */
    errno = saved_errno;
}

void log_write(enum log_level lvl, const char *module, const char *fmt, ...)
{
    if (lvl < log_min_level || lvl >= LOG_OFF || (int)lvl < LOG_DEBUG)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog_line(level_letter[lvl], module, fmt, ap);
    va_end(ap);
}

noreturn void log_fatal(const char *module, const char *fmt, ...)
{
    /* Always printed, whatever the level: it explains why the process stops. exit(2), not
     * abort(): fatal errors are configuration/startup problems, not crashes. */
    va_list ap;
    va_start(ap, fmt);
    vlog_line('E', module, fmt, ap);
    va_end(ap);
    exit(2);
}
