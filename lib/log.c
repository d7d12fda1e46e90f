/*
 * log.c - see log.h.  Lines are formatted into one buffer and written with a
 * single write(2) so that lines from several processes sharing a terminal or
 * a test log never interleave mid-line.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum log_level log_min_level = LOG_LEVEL_INFO;
static const char *log_ident = "coord";

void log_set_ident(const char *ident)
{
	log_ident = ident;
	const char *lvl = getenv("COORD_LOG_LEVEL");
	if (lvl && strcmp(lvl, "debug") == 0)
		log_min_level = LOG_LEVEL_DEBUG;
	else if (lvl && strcmp(lvl, "warn") == 0)
		log_min_level = LOG_LEVEL_WARN;
}

static void vlog(enum log_level level, int err, const char *tag, const char *fmt, va_list ap)
{
	static const char letters[] = "DIWE";
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n, saved = errno;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %s[%d] %c %s: ",
		     tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     log_ident, (int)getpid(), letters[level], tag);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m > 0)
		n += m;
	if ((size_t)n >= sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (err) {
		m = snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(-err));
		if (m > 0)
			n += m;
		if ((size_t)n >= sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
	errno = saved;
}

void log_msg(enum log_level level, int err, const char *tag, const char *fmt, ...)
{
	va_list ap;

	if (level < log_min_level)
		return;
	va_start(ap, fmt);
	vlog(level, err, tag, fmt, ap);
	va_end(ap);
}

void log_fatal(const char *tag, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, 0, tag, fmt, ap);
	va_end(ap);
	abort();
}
