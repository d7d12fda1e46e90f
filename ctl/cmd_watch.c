/*
 * cmd_watch.c - "watch [-r] [-n COUNT|--once] PATH": one line per event,
 * "TYPE PATH", with ZooKeeper's event names (NodeCreated, NodeDeleted,
 * NodeDataChanged, NodeChildrenChanged), flushed at once so a pipe reader
 * sees every event when it happens.
 *
 * The watch is one persistent watch (addWatch, ZooKeeper 3.6+): PERSISTENT
 * on PATH (its creation, deletion, data and list of children), or with -r
 * PERSISTENT_RECURSIVE (creation, deletion and data of PATH and every node
 * below it).  It stays set between events, so none is lost between two, and
 * zkclient sets it again after a reconnect with the last zxid seen, so none
 * is lost while the connection is down either.  Only the end of the session
 * loses events: then coordctl says so and exits with 4.
 *
 * With -n COUNT (--once is -n 1) coordctl exits 0 after COUNT events.
 * SIGINT, SIGTERM and SIGHUP (unless started ignored) close the session
 * and end the process by the same signal.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "coordctl.h"

struct watch_ctx {
	long left;                 /* events still to print; -1: forever */
	bool lost;
	int signo;
};

static const char *event_name(int type)
{
	switch (type) {
	case ZEV_CREATED: return "NodeCreated";
	case ZEV_DELETED: return "NodeDeleted";
	case ZEV_CHANGED: return "NodeDataChanged";
	case ZEV_CHILD: return "NodeChildrenChanged";
	case ZEV_DATA_WATCH_REMOVED: return "DataWatchRemoved";
	case ZEV_CHILD_WATCH_REMOVED: return "ChildWatchRemoved";
	case ZEV_PERSISTENT_WATCH_REMOVED: return "PersistentWatchRemoved";
	default: return NULL;
	}
}

static void on_event(struct ctl *c, int type, const char *path)
{
	struct watch_ctx *w = c->hook_arg;
	const char *name = event_name(type);
	if (w->left == 0)
		return;
	if (name)
		ctl_printf("%s %s\n", name, path);
	else
		ctl_printf("Event%d %s\n", type, path);
	ctl_flush();
	if (w->left > 0)
		w->left--;
}

static void on_state(struct ctl *c, enum zkc_state state)
{
	struct watch_ctx *w = c->hook_arg;
	if (state == ZKC_EXPIRED || state == ZKC_AUTH_FAILED)
		w->lost = true;
}

static void on_signal(uv_signal_t *h, int signo)
{
	struct watch_ctx *w = h->data;
	w->signo = signo;
}

int cmd_watch(struct ctl *c, int argc, char **argv)
{
	static const char syn[] = "watch [-r] [-n COUNT|--once] PATH";
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, '1' },
		{ "recursive", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct watch_ctx w = { .left = -1 };
	bool recursive = false;
	int o, rc;
	while ((o = ctl_getopt(c, argc, argv, "rn:", longopts)) != -1) {
		switch (o) {
		case 'r':
			recursive = true;
			break;
		case '1':
			w.left = 1;
			break;
		case 'n': {
			int32_t n;
			if (!ctl_parse_int32(c, "-n", optarg, &n) || n <= 0)
				return ctl_usage(syn);
			w.left = n;
			break;
		}
		default:
			return ctl_usage(syn);
		}
	}
	if (argc - optind != 1)
		return ctl_usage(syn);
	const char *path = argv[optind];
	if (!ctl_path_ok(c, path, false))
		return CTL_USAGE;

	static const int signums[] = { SIGINT, SIGTERM, SIGHUP };
	static uv_signal_t sigs[3]; /* closed here, released by the loop later */
	static bool caught[3];
	for (int i = 0; i < 3; i++) {
		/* A signal we were started ignoring (nohup) stays ignored. */
		struct sigaction sa;
		sigaction(signums[i], NULL, &sa);
		if (sa.sa_handler == SIG_IGN)
			continue;
		caught[i] = true;
		uv_signal_init(c->loop, &sigs[i]);
		sigs[i].data = &w;
		uv_signal_start(&sigs[i], on_signal, signums[i]);
	}
	c->hook_arg = &w;
	c->on_watch = on_event;
	c->on_state = on_state;
	if ((rc = ctl_connect(c)) != CTL_OK)
		goto out;
	struct ctl_reply r;
	memset(&r, 0, sizeof(r));
	int err = zkc_add_watch(c->zk, path, recursive ? ZADDWATCH_PERSISTENT_RECURSIVE :
				ZADDWATCH_PERSISTENT, ctl_reply_cb, &r);
	if (err < 0)
		ctl_reply_refused(&r, err);
	if (ctl_wait(c, &r) != ZOK) {
		rc = ctl_fail(c, path, r.rc, false);
		goto out;
	}
	while (w.left != 0 && !w.lost && !w.signo)
		uv_run(c->loop, UV_RUN_ONCE);
	if (w.signo) {
		ctl_close(c);
		ctl_flush();
		for (int i = 0; i < 3; i++)
			if (caught[i])
				uv_signal_stop(&sigs[i]);
		signal(w.signo, SIG_DFL);
		raise(w.signo);
	}
	if (w.lost) {
		ctl_msg("watch %s: the session %s; events may have been missed", path,
			c->state == ZKC_EXPIRED ? "expired" : "ended");
		rc = CTL_CONN;
	}
out:
	for (int i = 0; i < 3; i++)
		if (caught[i])
			uv_close((uv_handle_t *)&sigs[i], NULL);
	return rc;
}
