/*
 * main.c - coordctl, the command line for people and scripts:
 *
 *   coordctl [-s HOST:PORT[,...]] [-t TIMEOUT_MS] [-a SCHEME:AUTH] COMMAND ARGS
 *
 * The server list comes from -s, else $COORD_SERVERS, else 127.0.0.1:2181.
 * Global options end at the command name; each command parses its own
 * (see the command table below and coordctl(1)).
 *
 * Exit codes (coordctl.h): 0 ok, 1 no (exists false, lock busy, a local
 * I/O error), 2 usage, 3 ZooKeeper error, 4 cannot connect or session lost;
 * lock exits with its command's status.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coordctl.h"
#include "log.h"
#include "xalloc.h"
#include "zkpath.h"

static const struct command {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);
} commands[] = {
	{ "get", cmd_get },
	{ "set", cmd_set },
	{ "create", cmd_create },
	{ "rm", cmd_rm },
	{ "delete", cmd_rm },
	{ "ls", cmd_ls },
	{ "stat", cmd_stat },
	{ "exists", cmd_exists },
	{ "watch", cmd_watch },
	{ "lock", cmd_lock },
	{ "status", cmd_status },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: coordctl [-s HOST:PORT[,...]] [-t TIMEOUT_MS] [-a SCHEME:AUTH] COMMAND ARGS\n"
		"\n"
		"commands:\n"
		"  status [-v]                           srvr of every server; 0 if a quorum serves\n"
		"  get [-s] PATH                         data to stdout, byte for byte (-s: and Stat)\n"
		"  set [-v VERSION] [-c] PATH [DATA]     set data (from stdin without DATA; -c creates)\n"
		"  create [-e] [-s] [-c] [-p] [-i] PATH [DATA]\n"
		"                                        ephemeral, sequential, container, parents,\n"
		"                                        data from stdin; prints the path made\n"
		"  rm [-r] [-f] [-v VERSION] PATH        delete (-r: with children; -f: missing is ok)\n"
		"  ls [-l] [-R] PATH                     children (-l: with Stat; -R: whole subtree)\n"
		"  stat PATH                             the Stat, as zkCli prints it\n"
		"  exists PATH                           exit 0 if PATH exists, 1 if not\n"
		"  watch [-r] [-n COUNT|--once] PATH     one line per event: TYPE PATH\n"
		"  lock [-n] [-w SECONDS] PATH -- COMMAND [ARGS]\n"
		"                                        run COMMAND holding a cluster-wide lock\n"
		"\n"
		"servers: -s, else $COORD_SERVERS, else " CTL_DEFAULT_SERVERS "\n"
		"-t: session timeout, also the limit for reaching a server (default %d ms)\n"
		"exit codes: 0 ok, 1 no (exists, lock busy), 2 usage, 3 ZooKeeper error,\n"
		"            4 cannot connect or session lost; lock: the command's status\n",
		CTL_DEFAULT_TIMEOUT);
}

void ctl_msg(const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n = snprintf(line, sizeof(line), "coordctl: ");
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write, so lines of concurrent coordctl runs never interleave. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

static void out_failed(void)
{
	if (errno == EPIPE) {
		/* The reader went away: end as any filter does. */
		signal(SIGPIPE, SIG_DFL);
		raise(SIGPIPE);
	}
	ctl_msg("writing to standard output: %s", strerror(errno));
	_exit(CTL_NO);
}

void ctl_out(const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, stdout) != n)
		out_failed();
}

void ctl_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vfprintf(stdout, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_failed();
}

void ctl_flush(void)
{
	if (fflush(stdout) != 0)
		out_failed();
}

int ctl_getopt(struct ctl *c, int argc, char **argv, const char *optstring,
	       const struct option *longopts)
{
	opterr = 0;
	int o = getopt_long(argc, argv, optstring, longopts, NULL);
	if (o == '?' || o == ':') {
		if (optopt && strchr(optstring, optopt))
			ctl_msg("%s: option -%c wants an argument", c->cmd, optopt);
		else if (optopt)
			ctl_msg("%s: unknown option -%c", c->cmd, optopt);
		else
			ctl_msg("%s: unknown option %s", c->cmd, argv[optind - 1]);
		return '?';
	}
	return o;
}

int ctl_usage(const char *synopsis)
{
	fprintf(stderr, "usage: coordctl %s\n", synopsis);
	return CTL_USAGE;
}

bool ctl_path_ok(struct ctl *c, const char *path, bool sequential)
{
	size_t len = strlen(path);
	/* A sequential node's name may end in '/' before the suffix is added. */
	if (sequential && len > 1 && path[len - 1] == '/') {
		char *p = xstrdup(path);
		p[len - 1] = 0;
		bool ok = ctl_path_ok(c, p, false);
		free(p);
		return ok;
	}
	if (len > INT32_MAX || path_validate(path, (int32_t)len) != ZOK) {
		ctl_msg("%s %s: invalid path (absolute, no empty, \".\" or \"..\" "
			"components, no trailing /)", c->cmd, path);
		return false;
	}
	return true;
}

char *ctl_join(const char *parent, const char *name)
{
	size_t pl = strlen(parent), nl = strlen(name);
	if (pl == 1)
		pl = 0; /* the root: "/" + name */
	char *p = xmalloc(pl + nl + 2);
	memcpy(p, parent, pl);
	p[pl] = '/';
	memcpy(p + pl + 1, name, nl + 1);
	return p;
}

bool ctl_parse_int32(struct ctl *c, const char *opt, const char *s, int32_t *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < INT32_MIN || v > INT32_MAX) {
		ctl_msg("%s: %s wants an integer, not '%s'", c->cmd, opt, s);
		return false;
	}
	*out = (int32_t)v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c;
	memset(&c, 0, sizeof(c));
	c.servers = getenv("COORD_SERVERS");
	if (!c.servers || !*c.servers)
		c.servers = CTL_DEFAULT_SERVERS;
	c.timeout_ms = CTL_DEFAULT_TIMEOUT;
	c.cmd = "coordctl";

	/* zkclient's reconnect chatter is for daemons; COORD_LOG_LEVEL=debug shows it. */
	log_set_ident("coordctl");
	if (!getenv("COORD_LOG_LEVEL"))
		log_min_level = LOG_LEVEL_ERROR;

	int opt;
	/* '+': the first non-option is the command; its options are its own. */
	while ((opt = getopt_long(argc, argv, "+s:t:a:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			c.servers = optarg;
			break;
		case 't': {
			int32_t t;
			if (!ctl_parse_int32(&c, "-t", optarg, &t) || t <= 0)
				return CTL_USAGE;
			c.timeout_ms = t;
			break;
		}
		case 'a':
			c.auth = optarg;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		case 'V':
			printf("coordctl %s\n", PACKAGE_VERSION);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_USAGE;
	}
	const char *name = argv[optind];
	if (!strcmp(name, "help")) {
		usage(stdout);
		return CTL_OK;
	}
	const struct command *cmd = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(name, commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		ctl_msg("unknown command '%s' (coordctl -h lists them)", name);
		return CTL_USAGE;
	}

	/* libuv writes to sockets with write(2): a dead server must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	c.loop = uv_default_loop();
	c.cmd = cmd->name;
	/*
	 * Each command parses its own options with getopt from argv[0] = its
	 * name; optind = 0 makes glibc start afresh (and re-read the '+').
	 */
	int cmd_argc = argc - optind;
	char **cmd_argv = argv + optind;
	optind = 0;
	int rc = cmd->fn(&c, cmd_argc, cmd_argv);
	ctl_close(&c);
	ctl_flush();
	return rc;
}
