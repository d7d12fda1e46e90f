/*
 * log.h - leveled logging to stderr, shared by coordd, coordfs and coordctl.
 *
 * Every line carries a level and a subsystem tag first, so journald and grep
 * can pick a concern out: "W txnlog: fsync /var/lib/coordd/log.1: EIO".
 * The *_err variants take a negative errno and append its text, in the
 * OpenBSD log_warn style.
 */
#ifndef COORD_LOG_H
#define COORD_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

extern enum log_level log_min_level;

void log_set_ident(const char *ident);
void log_msg(enum log_level level, int err, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void log_fatal(const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

#define log_debug(tag, ...) \
	do { if (log_min_level <= LOG_LEVEL_DEBUG) log_msg(LOG_LEVEL_DEBUG, 0, tag, __VA_ARGS__); } while (0)
#define log_info(tag, ...)  log_msg(LOG_LEVEL_INFO, 0, tag, __VA_ARGS__)
#define log_warn(tag, ...)  log_msg(LOG_LEVEL_WARN, 0, tag, __VA_ARGS__)
#define log_error(tag, ...) log_msg(LOG_LEVEL_ERROR, 0, tag, __VA_ARGS__)
/* rc is a negative errno; its strerror() text is appended. */
#define log_err(rc, tag, ...) log_msg(LOG_LEVEL_ERROR, (rc), tag, __VA_ARGS__)
#define log_warn_err(rc, tag, ...) log_msg(LOG_LEVEL_WARN, (rc), tag, __VA_ARGS__)

/*
 * Always-on assertion for invariants whose violation means memory may disagree
 * with disk: log where, then abort so recovery starts from log + snapshot.
 */
#define COORD_ASSERT(e) \
	((e) ? (void)0 : log_fatal("assert", "%s:%d: %s", __FILE__, __LINE__, #e))

#endif
