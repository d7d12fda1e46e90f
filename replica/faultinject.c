/*
 * faultinject.c - injected I/O errors for the transaction log; the rule
 * syntax and the environment variables are described in faultinject.h.
 *
 * Invariants:
 *  (1) With neither variable set, faultinject_txnlog_ops() is NULL and no
 *      code here runs on the I/O path.
 *  (2) Rule state (counters) is only touched under `lock`: txnlog calls the
 *      ops from threadpool threads and from the loop thread.
 *  (3) A call that is neither failed nor torn goes to the real system
 *      call with its arguments unchanged, and errno is what that left.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultinject.h"
#include "log.h"

#define TAG "faultinject"
#define MAX_RULES 16
#define MAX_FILE 4096

enum fi_op { FI_WRITE, FI_FDATASYNC, FI_FTRUNCATE, FI_FSYNC, FI_OP_MAX };

static const char *const op_names[FI_OP_MAX] = { "write", "fdatasync", "ftruncate", "fsync" };

struct rule {
	unsigned ops;		/* bit (1 << enum fi_op) per matching op */
	int err;		/* positive errno to fail with */
	long after;		/* matching calls let through first */
	long count;		/* failures to inject; -1: forever */
	bool partial;		/* write: a short write before the failure */
	long seen;		/* matching calls so far */
	long failed;		/* failures injected so far */
	bool torn;		/* partial: the short write was done */
};

struct ruleset {
	struct rule r[MAX_RULES];
	int n;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool armed;
static struct ruleset env_rules;
static const char *ctl_path;		/* COORD_FAULT_FILE, or NULL */
static struct ruleset file_rules;
static char file_text[MAX_FILE];	/* contents file_rules were parsed from */
static size_t file_len;
static bool file_seen;			/* file_text is valid */

static const struct {
	const char *name;
	int err;
} errnos[] = {
	{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
	{ "EROFS", EROFS }, { "EFBIG", EFBIG }, { "EINTR", EINTR },
};

static bool parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return false;
	*out = v;
	return true;
}

/* Parse one "OP:ERRNO[:opt...]" rule (modified in place).  0 or -EINVAL. */
static int parse_rule(char *s, struct rule *r, const char *src)
{
	char *save = NULL;
	char *op = strtok_r(s, ":", &save);
	char *err = strtok_r(NULL, ":", &save);

	memset(r, 0, sizeof(*r));
	r->count = -1;
	if (!op || !err)
		goto bad;
	if (!strcmp(op, "sync"))
		r->ops = 1u << FI_FDATASYNC | 1u << FI_FSYNC;
	else if (!strcmp(op, "any"))
		r->ops = (1u << FI_OP_MAX) - 1;
	for (int i = 0; i < FI_OP_MAX; i++)
		if (!strcmp(op, op_names[i]))
			r->ops = 1u << i;
	if (!r->ops)
		goto bad;
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (!strcmp(err, errnos[i].name))
			r->err = errnos[i].err;
	long v;
	if (!r->err && parse_long(err, &v) && v > 0 && v < 4096)
		r->err = (int)v;
	if (!r->err)
		goto bad;
	for (char *o; (o = strtok_r(NULL, ":", &save)) != NULL;) {
		if (!strncmp(o, "after=", 6) && parse_long(o + 6, &r->after))
			continue;
		if (!strncmp(o, "count=", 6) && parse_long(o + 6, &r->count))
			continue;
		if (!strcmp(o, "partial") && r->ops == 1u << FI_WRITE) {
			r->partial = true;
			continue;
		}
		goto bad;
	}
	return 0;
bad:
	log_error(TAG, "%s: cannot parse fault rule near '%s' (want "
		  "OP:ERRNO[:after=N][:count=M][:partial], see faultinject.h)",
		  src, op ? op : "");
	return -EINVAL;
}

/* Parse a whole rule list; '#' comments, rules split by ';' ',' or space. */
static int parse_rules(const char *text, struct ruleset *rs, const char *src)
{
	char buf[MAX_FILE];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", text);
	for (char *p = buf; *p; p++) {
		if (*p != '#')
			continue;
		while (*p && *p != '\n')
			*p++ = ' ';
		if (!*p)
			break;
	}
	rs->n = 0;
	for (char *tok = strtok_r(buf, ";, \t\r\n", &save); tok;
	     tok = strtok_r(NULL, ";, \t\r\n", &save)) {
		if (rs->n == MAX_RULES) {
			log_error(TAG, "%s: more than %d fault rules", src, MAX_RULES);
			rs->n = 0;
			return -EINVAL;
		}
		if (parse_rule(tok, &rs->r[rs->n], src) < 0) {
			rs->n = 0;
			return -EINVAL;
		}
		rs->n++;
	}
	return 0;
}

/*
 * Under lock: re-read the control file; new contents replace the rules and
 * restart their counters.  A missing file is the same as an empty one.
 */
static void reload_file(void)
{
	char text[MAX_FILE];
	size_t len = 0;

	int fd = open(ctl_path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		for (;;) {
			ssize_t n = read(fd, text + len, sizeof(text) - 1 - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			len += (size_t)n;
			if (len == sizeof(text) - 1)
				break;
		}
		close(fd);
	}
	text[len] = 0;
	if (file_seen && len == file_len && !memcmp(text, file_text, len))
		return;
	memcpy(file_text, text, len + 1);
	file_len = len;
	file_seen = true;
	if (parse_rules(text, &file_rules, ctl_path) < 0)
		log_error(TAG, "%s: ignoring the control file until it changes", ctl_path);
	else
		log_warn(TAG, "%s: %d fault rule(s) now armed", ctl_path, file_rules.n);
}

enum verdict { PASS, FAIL, TEAR };

/*
 * Under lock: what the rules in rs say about this call of op.  can_tear: the
 * call is a write long enough to be cut in half.
 */
static enum verdict judge(struct ruleset *rs, enum fi_op op, bool can_tear, int *err)
{
	for (int i = 0; i < rs->n; i++) {
		struct rule *r = &rs->r[i];
		if (!(r->ops & 1u << op))
			continue;
		if (!r->torn)
			r->seen++;
		if (r->seen <= r->after || (r->count >= 0 && r->failed >= r->count))
			continue;
		if (r->partial && !r->torn && can_tear) {
			r->torn = true;
			return TEAR;
		}
		r->torn = false;
		r->failed++;
		*err = r->err;
		return FAIL;
	}
	return PASS;
}

static enum verdict decide(enum fi_op op, bool can_tear, int *err)
{
	pthread_mutex_lock(&lock);
	if (ctl_path)
		reload_file();
	enum verdict v = judge(&env_rules, op, can_tear, err);
	if (v == PASS)
		v = judge(&file_rules, op, can_tear, err);
	pthread_mutex_unlock(&lock);
	return v;
}

/* The symbolic name of err (strerror() is not for threadpool threads). */
static const char *err_name(int err, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].err == err)
			return errnos[i].name;
	snprintf(buf, size, "errno %d", err);
	return buf;
}

/* Log, then fail with err (log_msg keeps errno, but set it last anyway). */
static int inject(enum fi_op op, int fd, int err)
{
	char buf[24];
	log_warn(TAG, "injecting %s into %s(fd %d)", err_name(err, buf, sizeof(buf)),
		 op_names[op], fd);
	errno = err;
	return -1;
}

static ssize_t fi_write(int fd, const void *buf, size_t n)
{
	int err = 0;
	switch (decide(FI_WRITE, n >= 2, &err)) {
	case TEAR:
		log_warn(TAG, "injecting a short write (%zu of %zu bytes) into write(fd %d)",
			 n / 2, n, fd);
		return write(fd, buf, n / 2);
	case FAIL:
		return inject(FI_WRITE, fd, err);
	case PASS:
		break;
	}
	return write(fd, buf, n);
}

static int fi_fdatasync(int fd)
{
	int err = 0;
	if (decide(FI_FDATASYNC, false, &err) != PASS)
		return inject(FI_FDATASYNC, fd, err);
	return fdatasync(fd);
}

static int fi_ftruncate(int fd, off_t len)
{
	int err = 0;
	if (decide(FI_FTRUNCATE, false, &err) != PASS)
		return inject(FI_FTRUNCATE, fd, err);
	return ftruncate(fd, len);
}

static int fi_fsync(int fd)
{
	int err = 0;
	if (decide(FI_FSYNC, false, &err) != PASS)
		return inject(FI_FSYNC, fd, err);
	return fsync(fd);
}

static const struct txnlog_ops fi_ops = {
	.write = fi_write,
	.fdatasync = fi_fdatasync,
	.ftruncate = fi_ftruncate,
	.fsync = fi_fsync,
};

int faultinject_init(void)
{
	const char *spec = getenv("COORD_FAULT_INJECT");
	const char *file = getenv("COORD_FAULT_FILE");

	if (spec && *spec) {
		if (parse_rules(spec, &env_rules, "COORD_FAULT_INJECT") < 0)
			return -EINVAL;
		armed = true;
	}
	if (file && *file) {
		ctl_path = file;
		armed = true;
	}
	if (!armed)
		return 0;
	log_warn(TAG, "******************************************************");
	log_warn(TAG, "*** I/O FAULT INJECTION IS ARMED: the transaction log");
	log_warn(TAG, "*** will fail writes/syncs on purpose.  Test use only!");
	if (spec && *spec)
		log_warn(TAG, "*** COORD_FAULT_INJECT=%s (%d rule(s))", spec, env_rules.n);
	if (ctl_path)
		log_warn(TAG, "*** COORD_FAULT_FILE=%s (re-read before each call)", ctl_path);
	log_warn(TAG, "******************************************************");
	return 0;
}

const struct txnlog_ops *faultinject_txnlog_ops(void)
{
	return armed ? &fi_ops : NULL;
}
