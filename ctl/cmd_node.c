/*
 * cmd_node.c - the commands on znodes: get, set, create, rm, ls, stat,
 * exists.  They follow zkCli where zkCli has a say (stat's format, create
 * printing the path it made) and shell tools where scripts need it: data is
 * written raw, errors name the path and the ZooKeeper error, exit codes are
 * fixed (coordctl.h).
 *
 * set and create take their options before PATH only ('+' to getopt), so
 * DATA may begin with '-' ("set /n -5"); the other commands accept options
 * anywhere.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coordctl.h"
#include "xalloc.h"
#include "zkclient_proto.h"

/* How often a create or delete is tried again when another client races it. */
#define RACE_TRIES 10

/* ---- helpers ---- */

/*
 * Reads all of stdin (binary) into *out.  Returns 0, or an exit code after
 * reporting.  More than zkclient accepts is refused here already.
 */
static int read_stdin(struct ctl *c, char **out, int32_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap > ZKC_MAX_DATA) {
				free(buf);
				ctl_msg("%s: standard input is over %d bytes", c->cmd, ZKC_MAX_DATA);
				return CTL_USAGE;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t r = read(STDIN_FILENO, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ctl_msg("%s: reading standard input: %s", c->cmd, strerror(errno));
			free(buf);
			return CTL_NO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > ZKC_MAX_DATA) {
		free(buf);
		ctl_msg("%s: standard input is over %d bytes", c->cmd, ZKC_MAX_DATA);
		return CTL_USAGE;
	}
	*out = buf;
	*len = (int32_t)n;
	return 0;
}

/*
 * A connection dropped under a write of more than the server's default
 * request limit: most likely the server refused the frame.  Say so.
 */
static void hint_size(struct ctl *c, const char *path, int rc, int32_t len)
{
	if (rc == ZCONNECTIONLOSS && len > ZK_DEFAULT_MAXBUFFER - 1024)
		ctl_msg("%s %s: %" PRId32 " bytes of data; servers refuse requests over "
			"jute.maxbuffer (1 MiB by default)", c->cmd, path, len);
}

/* ms since the epoch as zkCli prints dates (Java's Date), or as ls -l does. */
static void fmt_time(char *out, size_t n, int64_t ms, bool java)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	if (java)
		strftime(out, n, "%a %b %d %H:%M:%S %Z %Y", &tm);
	else
		strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

/* The Stat as zkCli's "stat" and "get -s" print it. */
static void print_stat(const struct zk_stat *s)
{
	char ct[64], mt[64];
	fmt_time(ct, sizeof(ct), s->ctime, true);
	fmt_time(mt, sizeof(mt), s->mtime, true);
	ctl_printf("cZxid = 0x%" PRIx64 "\n"
		   "ctime = %s\n"
		   "mZxid = 0x%" PRIx64 "\n"
		   "mtime = %s\n"
		   "pZxid = 0x%" PRIx64 "\n"
		   "cversion = %" PRId32 "\n"
		   "dataVersion = %" PRId32 "\n"
		   "aclVersion = %" PRId32 "\n"
		   "ephemeralOwner = 0x%" PRIx64 "\n"
		   "dataLength = %" PRId32 "\n"
		   "numChildren = %" PRId32 "\n",
		   (uint64_t)s->czxid, ct, (uint64_t)s->mzxid, mt, (uint64_t)s->pzxid,
		   s->cversion, s->version, s->aversion, (uint64_t)s->ephemeral_owner,
		   s->data_length, s->num_children);
}

/*
 * ls -l: kind, version, data length, children, mtime, name.  The kind is
 * 'e' (ephemeral) or '-': servers show containers and TTL nodes with an
 * ephemeralOwner of 0, like persistent ones (DataTree.copyStat).
 */
static void print_long(const struct zk_stat *s, const char *name)
{
	char mt[64];
	fmt_time(mt, sizeof(mt), s->mtime, false);
	ctl_printf("%c %6" PRId32 " %8" PRId32 " %6" PRId32 " %s %s\n",
		   s->ephemeral_owner ? 'e' : '-', s->version, s->data_length, s->num_children,
		   mt, name);
}

/* Exactly one PATH (plus nmax-1 optional arguments) after the options. */
static bool nargs_ok(int argc, int nmin, int nmax)
{
	int n = argc - optind;
	return n >= nmin && n <= nmax;
}

/* ---- get ---- */

int cmd_get(struct ctl *c, int argc, char **argv)
{
	static const char syn[] = "get [-s] PATH";
	bool show_stat = false;
	int o, rc;
	while ((o = ctl_getopt(c, argc, argv, "s", NULL)) != -1) {
		if (o != 's')
			return ctl_usage(syn);
		show_stat = true;
	}
	if (!nargs_ok(argc, 1, 1))
		return ctl_usage(syn);
	const char *path = argv[optind];
	if (!ctl_path_ok(c, path, false))
		return CTL_USAGE;
	if ((rc = ctl_connect(c)) != CTL_OK)
		return rc;
	struct ctl_reply r;
	memset(&r, 0, sizeof(r));
	if (ctl_get(c, path, &r) != ZOK) {
		rc = ctl_fail(c, path, r.rc, false);
		ctl_reply_free(&r);
		return rc;
	}
	if (r.datalen > 0)
		ctl_out(r.data, (size_t)r.datalen);
	if (show_stat) {
		if (r.datalen > 0 && r.data[r.datalen - 1] != '\n')
			ctl_out("\n", 1);
		print_stat(&r.stat);
	}
	ctl_reply_free(&r);
	return CTL_OK;
}

/* ---- set ---- */

int cmd_set(struct ctl *c, int argc, char **argv)
{
	static const char syn[] = "set [-v VERSION] [-c] PATH [DATA]   (no DATA: standard input)";
	int32_t version = -1;
	bool create = false, have_version = false;
	int o, rc;
	while ((o = ctl_getopt(c, argc, argv, "+v:c", NULL)) != -1) {
		switch (o) {
		case 'v':
			if (!ctl_parse_int32(c, "-v", optarg, &version))
				return CTL_USAGE;
			have_version = true;
			break;
		case 'c':
			create = true;
			break;
		default:
			return ctl_usage(syn);
		}
	}
	if (!nargs_ok(argc, 1, 2))
		return ctl_usage(syn);
	const char *path = argv[optind];
	if (!ctl_path_ok(c, path, false))
		return CTL_USAGE;
	char *data;
	int32_t len;
	if (optind + 1 < argc) {
		data = xstrdup(argv[optind + 1]);
		len = (int32_t)strlen(data);
	} else if ((rc = read_stdin(c, &data, &len)) != 0) {
		return rc;
	}
	if ((rc = ctl_connect(c)) != CTL_OK) {
		free(data);
		return rc;
	}
	struct ctl_reply r;
	memset(&r, 0, sizeof(r));
	int zrc = ZNONODE;
	for (int i = 0; i < RACE_TRIES; i++) {
		zrc = ctl_set(c, path, data, len, version, &r);
		if (zrc != ZNONODE || !create || have_version)
			break;
		/* -c: make it; if somebody else just did, set it again. */
		zrc = ctl_create(c, path, data, len, ZCM_PERSISTENT, &r);
		if (zrc != ZNODEEXISTS)
			break;
	}
	rc = CTL_OK;
	if (zrc != ZOK) {
		rc = ctl_fail(c, path, zrc, true);
		hint_size(c, path, zrc, len);
	}
	ctl_reply_free(&r);
	free(data);
	return rc;
}

/* ---- create ---- */

int cmd_create(struct ctl *c, int argc, char **argv)
{
	static const char syn[] = "create [-e] [-s] [-c] [-p] [-i] PATH [DATA]";
	bool eph = false, seq = false, container = false, parents = false, from_stdin = false;
	int o, rc;
	while ((o = ctl_getopt(c, argc, argv, "+escpi", NULL)) != -1) {
		switch (o) {
		case 'e': eph = true; break;
		case 's': seq = true; break;
		case 'c': container = true; break;
		case 'p': parents = true; break;
		case 'i': from_stdin = true; break;
		default: return ctl_usage(syn);
		}
	}
	if (!nargs_ok(argc, 1, 2) || (from_stdin && optind + 1 < argc))
		return ctl_usage(syn);
	if (container && (eph || seq)) {
		ctl_msg("create: a container node is neither ephemeral nor sequential");
		return CTL_USAGE;
	}
	const char *path = argv[optind];
	if (!ctl_path_ok(c, path, seq))
		return CTL_USAGE;
	int flags = ZCM_PERSISTENT;
	if (container)
		flags = ZCM_CONTAINER;
	else if (eph)
		flags = seq ? ZCM_EPHEMERAL_SEQUENTIAL : ZCM_EPHEMERAL;
	else if (seq)
		flags = ZCM_PERSISTENT_SEQUENTIAL;
	char *data = NULL;
	int32_t len = -1; /* no DATA: null data, as zkCli and coordfs's mkdir make */
	if (optind + 1 < argc) {
		data = xstrdup(argv[optind + 1]);
		len = (int32_t)strlen(data);
	} else if (from_stdin && (rc = read_stdin(c, &data, &len)) != 0) {
		return rc;
	}
	if ((rc = ctl_connect(c)) != CTL_OK) {
		free(data);
		return rc;
	}
	struct ctl_reply r;
	memset(&r, 0, sizeof(r));
	int zrc = ZNONODE;
	for (int i = 0; i < RACE_TRIES; i++) {
		zrc = ctl_create(c, path, data, len, flags, &r);
		if (zrc != ZNONODE || !parents)
			break;
		/* -p: make the missing ancestors; one may vanish again meanwhile. */
		zrc = ctl_create_parents(c, path);
		if (zrc != ZOK)
			break;
	}
	rc = CTL_OK;
	if (zrc == ZOK) {
		ctl_printf("%s\n", r.path ? r.path : path);
	} else {
		rc = ctl_fail(c, path, zrc, true);
		hint_size(c, path, zrc, len);
	}
	ctl_reply_free(&r);
	free(data);
	return rc;
}

/* ---- rm ---- */

/* rm_tree() result for an error inside the tree that it has reported itself. */
#define RM_REPORTED 1

/*
 * Deletes path and everything below it.  Children are deleted together (one
 * round trip and one group commit for a whole directory of leaves); those
 * that turn out to have children of their own are descended into.  Nodes
 * that vanish meanwhile are fine; children created meanwhile are deleted
 * on the next round.  Returns ZOK, ZNONODE (path was not there), a
 * ZooKeeper error about path, or RM_REPORTED.
 */
static int rm_tree(struct ctl *c, const char *path)
{
	for (int round = 0; round < RACE_TRIES; round++) {
		int rc = ctl_delete(c, path, -1);
		if (rc == ZNONODE && round > 0)
			return ZOK; /* somebody else finished the job */
		if (rc != ZNOTEMPTY)
			return rc;
		struct ctl_reply list;
		memset(&list, 0, sizeof(list));
		rc = ctl_children(c, path, &list);
		if (rc != ZOK) {
			ctl_reply_free(&list);
			return rc == ZNONODE ? ZOK : rc;
		}
		int32_t n = list.nchildren;
		struct ctl_batch b = { 0 };
		struct ctl_reply *rs = xcalloc((size_t)n + 1, sizeof(*rs));
		char **paths = xcalloc((size_t)n + 1, sizeof(char *));
		for (int32_t i = 0; i < n; i++) {
			paths[i] = ctl_join(path, list.children[i]);
			rs[i].batch = &b;
			b.pending++;
			int err = zkc_delete(c->zk, paths[i], -1, ctl_reply_cb, &rs[i]);
			if (err < 0)
				ctl_reply_refused(&rs[i], err);
		}
		ctl_wait_batch(c, &b);
		bool failed = false;
		for (int32_t i = 0; i < n; i++) {
			int crc = rs[i].rc;
			if (crc == ZNOTEMPTY && !failed)
				crc = rm_tree(c, paths[i]);
			if (crc != ZOK && crc != ZNONODE && !failed) {
				if (crc != RM_REPORTED)
					ctl_fail(c, paths[i], crc, true);
				failed = true;
			}
			ctl_reply_free(&rs[i]);
			free(paths[i]);
		}
		free(rs);
		free(paths);
		ctl_reply_free(&list);
		if (failed)
			return RM_REPORTED;
	}
	return ZNOTEMPTY;
}

int cmd_rm(struct ctl *c, int argc, char **argv)
{
	static const char syn[] = "rm [-r] [-f] [-v VERSION] PATH";
	bool recursive = false, force = false, have_version = false;
	int32_t version = -1;
	int o, rc;
	while ((o = ctl_getopt(c, argc, argv, "rfv:", NULL)) != -1) {
		switch (o) {
		case 'r': recursive = true; break;
		case 'f': force = true; break;
		case 'v':
			if (!ctl_parse_int32(c, "-v", optarg, &version))
				return CTL_USAGE;
			have_version = true;
			break;
		default: return ctl_usage(syn);
		}
	}
	if (!nargs_ok(argc, 1, 1) || (recursive && have_version))
		return ctl_usage(syn);
	const char *path = argv[optind];
	if (!ctl_path_ok(c, path, false))
		return CTL_USAGE;
	if (recursive && !strcmp(path, "/")) {
		ctl_msg("rm: refusing to remove / recursively");
		return CTL_USAGE;
	}
	if ((rc = ctl_connect(c)) != CTL_OK)
		return rc;
	int zrc = recursive ? rm_tree(c, path) : ctl_delete(c, path, version);
	if (zrc == ZOK || (zrc == ZNONODE && force))
		return CTL_OK;
	if (zrc == RM_REPORTED)
		return CTL_ZKERR;
	return ctl_fail(c, path, zrc, true);
}

/* ---- ls ---- */

/*
 * ls -R: prints path (with st for -l) and then, depth first in name order,
 * every node below it by its full path.  names are path's children.  A
 * node that vanishes while we walk is left out, as find(1) would.  Returns
 * CTL_OK or the exit code of the error it reported.
 */
static int walk(struct ctl *c, const char *path, const struct zk_stat *st, char **names,
		int32_t n, bool longfmt)
{
	if (longfmt)
		print_long(st, path);
	else
		ctl_printf("%s\n", path);
	struct ctl_batch b = { 0 };
	struct ctl_reply *rs = xcalloc((size_t)n + 1, sizeof(*rs));
	char **paths = xcalloc((size_t)n + 1, sizeof(char *));
	for (int32_t i = 0; i < n; i++) {
		paths[i] = ctl_join(path, names[i]);
		rs[i].batch = &b;
		b.pending++;
		int err = zkc_get_children(c->zk, paths[i], false, ctl_reply_cb, &rs[i]);
		if (err < 0)
			ctl_reply_refused(&rs[i], err);
	}
	ctl_wait_batch(c, &b);
	int rc = CTL_OK;
	for (int32_t i = 0; i < n; i++) {
		if (rc == CTL_OK && rs[i].rc == ZOK)
			rc = walk(c, paths[i], &rs[i].stat, rs[i].children, rs[i].nchildren,
				  longfmt);
		else if (rc == CTL_OK && rs[i].rc != ZNONODE)
			rc = ctl_fail(c, paths[i], rs[i].rc, false);
		ctl_reply_free(&rs[i]);
		free(paths[i]);
	}
	free(rs);
	free(paths);
	return rc;
}

/* ls -l without -R: a Stat for every child, asked for all at once (as walk). */
static int list_long(struct ctl *c, const char *path, char **names, int32_t n)
{
	struct ctl_batch b = { 0 };
	struct ctl_reply *rs = xcalloc((size_t)n + 1, sizeof(*rs));
	char **paths = xcalloc((size_t)n + 1, sizeof(char *));
	for (int32_t i = 0; i < n; i++) {
		paths[i] = ctl_join(path, names[i]);
		rs[i].batch = &b;
		b.pending++;
		int err = zkc_exists(c->zk, paths[i], false, ctl_reply_cb, &rs[i]);
		if (err < 0)
			ctl_reply_refused(&rs[i], err);
	}
	ctl_wait_batch(c, &b);
	int rc = CTL_OK;
	for (int32_t i = 0; i < n; i++) {
		if (rc == CTL_OK && rs[i].rc == ZOK)
			print_long(&rs[i].stat, names[i]);
		else if (rc == CTL_OK && rs[i].rc != ZNONODE)
			rc = ctl_fail(c, paths[i], rs[i].rc, false);
		ctl_reply_free(&rs[i]);
		free(paths[i]);
	}
	free(rs);
	free(paths);
	return rc;
}

int cmd_ls(struct ctl *c, int argc, char **argv)
{
	static const char syn[] = "ls [-l] [-R] [PATH]";
	bool longfmt = false, recursive = false;
	int o, rc;
	while ((o = ctl_getopt(c, argc, argv, "lR", NULL)) != -1) {
		switch (o) {
		case 'l': longfmt = true; break;
		case 'R': recursive = true; break;
		default: return ctl_usage(syn);
		}
	}
	if (!nargs_ok(argc, 0, 1))
		return ctl_usage(syn);
	const char *path = optind < argc ? argv[optind] : "/";
	if (!ctl_path_ok(c, path, false))
		return CTL_USAGE;
	if ((rc = ctl_connect(c)) != CTL_OK)
		return rc;
	struct ctl_reply r;
	memset(&r, 0, sizeof(r));
	if (ctl_children(c, path, &r) != ZOK) {
		rc = ctl_fail(c, path, r.rc, false);
	} else if (recursive) {
		rc = walk(c, path, &r.stat, r.children, r.nchildren, longfmt);
	} else if (longfmt) {
		rc = list_long(c, path, r.children, r.nchildren);
	} else {
		for (int32_t i = 0; i < r.nchildren; i++)
			ctl_printf("%s\n", r.children[i]);
	}
	ctl_reply_free(&r);
	return rc;
}

/* ---- stat, exists ---- */

/* The start of a command that takes no options and one PATH: parsed,
 * checked and connected (CTL_OK), or the exit status to return. */
static int one_path_start(struct ctl *c, int argc, char **argv, const char *syn,
			  const char **path)
{
	while (ctl_getopt(c, argc, argv, "", NULL) != -1)
		return ctl_usage(syn);
	if (!nargs_ok(argc, 1, 1))
		return ctl_usage(syn);
	*path = argv[optind];
	if (!ctl_path_ok(c, *path, false))
		return CTL_USAGE;
	return ctl_connect(c);
}

int cmd_stat(struct ctl *c, int argc, char **argv)
{
	const char *path;
	int rc = one_path_start(c, argc, argv, "stat PATH", &path);
	if (rc != CTL_OK)
		return rc;
	struct ctl_reply r;
	memset(&r, 0, sizeof(r));
	if (ctl_exists(c, path, false, &r) == ZOK) {
		print_stat(&r.stat);
		rc = CTL_OK;
	} else {
		rc = ctl_fail(c, path, r.rc, false);
	}
	ctl_reply_free(&r);
	return rc;
}

int cmd_exists(struct ctl *c, int argc, char **argv)
{
	const char *path;
	int rc = one_path_start(c, argc, argv, "exists PATH", &path);
	if (rc != CTL_OK)
		return rc;
	struct ctl_reply r;
	memset(&r, 0, sizeof(r));
	int zrc = ctl_exists(c, path, false, &r);
	ctl_reply_free(&r);
	if (zrc == ZOK)
		return CTL_OK;
	if (zrc == ZNONODE)
		return CTL_NO;
	return ctl_fail(c, path, zrc, false);
}
