/*
 * cmd_lock.c - "lock [-n] [-w SECONDS] PATH [--] COMMAND [ARG...]": runs
 * COMMAND while holding a cluster-wide exclusive lock, and exits with its
 * status (128+N if a signal N ended it).
 *
 * The lock is ZooKeeper's lock recipe with kazoo's node names, so coordctl
 * and kazoo's Lock/WriteLock exclude each other:
 *   - each contender creates PATH/<32 hex digits>__lock__<seq>, ephemeral
 *     and sequential (data: "HOST PID"); PATH and its parents are made
 *     (persistent) if missing;
 *   - contenders are the children named ...__lock__NNNNNNNNNN or
 *     ...__rlock__NNNNNNNNNN (kazoo's readers), ordered by that suffix as a
 *     string; the first holds the lock, every other one watches (exists)
 *     the one just before it and looks again when that one goes;
 *   - a create whose reply was lost (ZCONNECTIONLOSS) may have been done:
 *     the random prefix finds our node among the children (Curator's and
 *     kazoo's trick), so no orphan node blocks the lock until expiry.
 *
 * Invariants:
 * (1) COMMAND never runs without the lock and never keeps running unlocked
 *     silently.  The lock is lost when the session expires, when another
 *     client deletes our node, or when no server has been reachable for a
 *     quarter of the session timeout (from then on the ensemble may expire
 *     the session without our knowing: the client drops a silent
 *     connection after 2/3 of the timeout, so at least 1/3 remains, and a
 *     quarter leaves a margin).  Then COMMAND's process group gets SIGTERM,
 *     SIGKILL KILL_AFTER_MS later, a message says why, and coordctl exits
 *     with 4 whatever COMMAND returned.
 * (2) If coordctl itself dies (even kill -9), COMMAND's process gets
 *     SIGKILL at once (PR_SET_PDEATHSIG); the lock node goes with the
 *     session, when the ensemble expires it.
 * (3) COMMAND runs in a process group of its own, so a lost lock stops
 *     everything it started.  When coordctl is in the foreground of a
 *     terminal it hands the terminal to that group (Ctrl-C and Ctrl-Z reach
 *     COMMAND as they would without coordctl) and takes it back afterwards,
 *     following the job control of a shell; SIGINT, SIGTERM, SIGHUP,
 *     SIGQUIT, SIGUSR1 and SIGUSR2 sent to coordctl are passed on.
 * (4) Before COMMAND runs, a signal or -w's deadline withdraws our node
 *     and ends coordctl (by the signal, or with 1 for the deadline).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coordctl.h"
#include "xalloc.h"

#define LOCK_TAG "__lock__"
#define RLOCK_TAG "__rlock__"
#define KILL_AFTER_MS 5000
#define CREATE_TRIES 10

static const int fwd_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
#define NFWD ((int)(sizeof(fwd_signals) / sizeof(fwd_signals[0])))

static struct {
	struct ctl *c;
	const char *dir;           /* PATH */
	char prefix[64];           /* <uuid hex>__lock__ */
	char *node;                /* our node, once made */
	char *pred;                /* the contender we wait for */
	bool pred_event;
	bool held;
	bool releasing;
	const char *lost;          /* why the lock or session is gone, or NULL */
	bool timed_out;
	int signo;                 /* a signal that came before COMMAND ran */
	bool fg;                   /* the terminal was handed to COMMAND */
	pid_t pid;                 /* COMMAND (and its process group) */
	bool running;
	int status;                /* waitpid status */
	struct sigaction orig[NFWD];
	bool caught[NFWD];
	sigset_t orig_mask;
	uv_signal_t sigs[NFWD];
	uv_signal_t sigchld;
	uv_timer_t wait_timer, grace_timer, kill_timer;
} L;

/* ---- losing the lock (invariant 1) ---- */

static void on_kill_timer(uv_timer_t *t)
{
	(void)t;
	if (L.running)
		kill(-L.pid, SIGKILL);
}

static void lose(const char *why)
{
	if (L.lost)
		return;
	L.lost = why;
	if (!L.held || L.releasing)
		return;
	if (L.running) {
		ctl_msg("lock %s: lost: %s; stopping the command (SIGTERM to process group %d)",
			L.dir, why, (int)L.pid);
		kill(-L.pid, SIGTERM);
		kill(-L.pid, SIGCONT); /* a stopped command must see it too */
		uv_timer_start(&L.kill_timer, on_kill_timer, KILL_AFTER_MS, 0);
	}
}

static void on_grace(uv_timer_t *t)
{
	(void)t;
	lose("no server reachable for a quarter of the session timeout; the session may "
	     "have expired");
}

static void own_checked(struct zkclient *zk, const struct zkc_result *res, void *arg);

/* Watches our own node, so a delete by another client is noticed. */
static void watch_own(void)
{
	if (L.node && L.held && !L.releasing && !L.lost)
		zkc_exists(L.c->zk, L.node, true, own_checked, NULL);
}

static void own_checked(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	(void)zk;
	(void)arg;
	if (res->rc == ZNONODE && L.held && !L.releasing)
		lose("its node was deleted by another client");
	/* Other failures are the connection's: on_state looks again. */
}

static void on_state(struct ctl *c, enum zkc_state state)
{
	(void)c;
	switch (state) {
	case ZKC_CONNECTED:
		uv_timer_stop(&L.grace_timer);
		watch_own();
		break;
	case ZKC_CONNECTING:
	case ZKC_SUSPENDED:
		if (L.held && !uv_is_active((uv_handle_t *)&L.grace_timer)) {
			int32_t t = zkc_session_timeout(L.c->zk);
			if (t <= 0)
				t = L.c->timeout_ms;
			uv_timer_start(&L.grace_timer, on_grace, (uint64_t)t / 4, 0);
		}
		break;
	case ZKC_EXPIRED:
		lose("the session expired");
		break;
	case ZKC_AUTH_FAILED:
		lose("authentication failed");
		break;
	default:
		break;
	}
}

static void on_watch(struct ctl *c, int type, const char *path)
{
	(void)c;
	if (L.pred && !strcmp(path, L.pred))
		L.pred_event = true;
	if (L.node && !strcmp(path, L.node) && L.held && !L.releasing) {
		if (type == ZEV_DELETED)
			lose("its node was deleted by another client");
		else
			watch_own(); /* a one-shot watch: set it again */
	}
}

/* ---- signals and COMMAND's end ---- */

static void on_signal(uv_signal_t *h, int signo)
{
	(void)h;
	if (L.running)
		kill(-L.pid, signo); /* invariant 3 */
	else if (!L.signo)
		L.signo = signo;
}

/*
 * Makes pgrp the terminal's foreground group.  SIGTTOU is blocked meanwhile:
 * we may be in the background already (the child may have been first).
 */
static void give_terminal(pid_t pgrp)
{
	sigset_t s, old;
	sigemptyset(&s);
	sigaddset(&s, SIGTTOU);
	sigprocmask(SIG_BLOCK, &s, &old);
	tcsetpgrp(STDIN_FILENO, pgrp);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* The terminal back to our process group. */
static void take_terminal(void)
{
	give_terminal(getpgrp());
}

/*
 * COMMAND stopped (Ctrl-Z in its terminal): stop ourselves as well, so the
 * shell sees the job stopped; when continued, hand the terminal back if we
 * have it, and continue COMMAND.
 */
static void job_stopped(void)
{
	if (!L.fg)
		return;
	take_terminal();
	kill(getpid(), SIGSTOP);
	if (tcgetpgrp(STDIN_FILENO) == getpgrp())
		tcsetpgrp(STDIN_FILENO, L.pid);
	kill(-L.pid, SIGCONT);
}

static void on_sigchld(uv_signal_t *h, int signo)
{
	(void)h;
	(void)signo;
	int st;
	while (L.running && waitpid(L.pid, &st, WNOHANG | WUNTRACED | WCONTINUED) > 0) {
		if (WIFSTOPPED(st)) {
			job_stopped();
		} else if (WIFEXITED(st) || WIFSIGNALED(st)) {
			L.running = false;
			L.status = st;
		}
	}
}

/* ---- acquiring ---- */

/* kazoo's contender pattern (?:__lock__|__rlock__)(-?\d{10})$: the suffix, or NULL. */
static const char *contender_seq(const char *name)
{
	size_t n = strlen(name);
	if (n < 10)
		return NULL;
	for (size_t i = n - 10; i < n; i++)
		if (name[i] < '0' || name[i] > '9')
			return NULL;
	size_t s = n - 10;
	if (s > 0 && name[s - 1] == '-')
		s--;
	if ((s >= strlen(LOCK_TAG) && !strncmp(name + s - strlen(LOCK_TAG), LOCK_TAG,
						strlen(LOCK_TAG))) ||
	    (s >= strlen(RLOCK_TAG) && !strncmp(name + s - strlen(RLOCK_TAG), RLOCK_TAG,
						 strlen(RLOCK_TAG))))
		return name + s;
	return NULL;
}

static int cmp_seq(const void *a, const void *b)
{
	return strcmp(contender_seq(*(char *const *)a), contender_seq(*(char *const *)b));
}

static void make_prefix(void)
{
	unsigned char r[16];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		/* No entropy source: time and pid are unique enough for a name. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		memset(r, 0, sizeof(r));
		memcpy(r, &ts, sizeof(ts) < sizeof(r) ? sizeof(ts) : sizeof(r));
		pid_t p = getpid();
		memcpy(r + 12, &p, sizeof(p) < 4 ? sizeof(p) : 4);
	}
	for (int i = 0; i < 16; i++)
		snprintf(L.prefix + 2 * i, 3, "%02x", r[i]);
	strcat(L.prefix, LOCK_TAG);
}

/* Our node among children, found by its random prefix after a lost reply. */
static char *find_own(struct ctl_reply *list)
{
	for (int32_t i = 0; i < list->nchildren; i++)
		if (!strncmp(list->children[i], L.prefix, strlen(L.prefix)))
			return ctl_join(L.dir, list->children[i]);
	return NULL;
}

/* Creates our node (and PATH).  Returns CTL_OK or a reported exit code. */
static int create_node(struct ctl *c)
{
	char *cpath = ctl_join(L.dir, L.prefix);
	char ident[300], host[256];
	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "?");
	host[sizeof(host) - 1] = 0;
	snprintf(ident, sizeof(ident), "%s %d", host, (int)getpid());
	struct ctl_reply r;
	memset(&r, 0, sizeof(r));
	int rc = ZOK;
	for (int i = 0; i < CREATE_TRIES && !L.node; i++) {
		rc = ctl_create(c, cpath, ident, (int32_t)strlen(ident), ZCM_EPHEMERAL_SEQUENTIAL,
				&r);
		if (rc == ZOK) {
			L.node = xstrdup(r.path);
		} else if (rc == ZNONODE) {
			rc = ctl_create_parents(c, cpath);
			if (rc != ZOK)
				break;
		} else if (rc == ZCONNECTIONLOSS) {
			/* It may have been made: look for it before making another. */
			if (ctl_children(c, L.dir, &r) == ZOK)
				L.node = find_own(&r);
		} else {
			break;
		}
	}
	ctl_reply_free(&r);
	if (L.node) {
		free(cpath);
		return CTL_OK;
	}
	rc = ctl_fail(c, cpath, rc, true);
	free(cpath);
	return rc;
}

static void withdraw(struct ctl *c)
{
	if (L.node) {
		L.releasing = true;
		ctl_delete(c, L.node, -1);
	}
}

/* "held by HOST PID" when the holder's data is printable. */
static void say_busy(struct ctl *c, const char *first, const char *what)
{
	char *p = ctl_join(L.dir, first);
	struct ctl_reply r;
	memset(&r, 0, sizeof(r));
	bool printable = ctl_get(c, p, &r) == ZOK && r.datalen > 0 && r.datalen < 200;
	for (int32_t i = 0; printable && i < r.datalen; i++)
		printable = r.data[i] >= 0x20 && r.data[i] < 0x7f;
	if (printable)
		ctl_msg("lock %s: %s (held by %s)", L.dir, what, r.data);
	else
		ctl_msg("lock %s: %s", L.dir, what);
	ctl_reply_free(&r);
	free(p);
}

static void on_wait_timer(uv_timer_t *t)
{
	(void)t;
	L.timed_out = true;
}

/*
 * Waits until our node is the first contender.  Returns CTL_OK with the
 * lock held, or an exit code (reported, node withdrawn); L.signo set means
 * a signal ended the wait.
 */
static int acquire(struct ctl *c, bool nonblock, double wait_s)
{
	int rc = create_node(c);
	if (rc != CTL_OK)
		return rc;
	if (wait_s >= 0)
		uv_timer_start(&L.wait_timer, on_wait_timer, (uint64_t)(wait_s * 1000 + 0.5), 0);
	const char *own = strrchr(L.node, '/') + 1;
	for (int vanished = 0;;) {
		if (L.lost) {
			ctl_msg("lock %s: %s while waiting", L.dir, L.lost);
			return CTL_CONN;
		}
		if (L.signo) {
			withdraw(c);
			return CTL_NO;
		}
		struct ctl_reply r;
		memset(&r, 0, sizeof(r));
		if (ctl_children(c, L.dir, &r) != ZOK) {
			rc = ctl_fail(c, L.dir, r.rc, false);
			ctl_reply_free(&r);
			withdraw(c);
			return rc;
		}
		int32_t n = 0;
		for (int32_t i = 0; i < r.nchildren; i++)
			if (contender_seq(r.children[i]))
				r.children[n++] = r.children[i];
			else
				free(r.children[i]);
		r.nchildren = n;
		qsort(r.children, (size_t)n, sizeof(char *), cmp_seq);
		int32_t me = -1;
		for (int32_t i = 0; i < n; i++)
			if (!strcmp(r.children[i], own))
				me = i;
		if (me < 0) {
			/* Our node is gone (deleted by someone): make a new one, as kazoo does. */
			ctl_reply_free(&r);
			free(L.node);
			L.node = NULL;
			if (++vanished >= CREATE_TRIES) {
				ctl_msg("lock %s: our lock node keeps vanishing", L.dir);
				return CTL_ZKERR;
			}
			if ((rc = create_node(c)) != CTL_OK)
				return rc;
			own = strrchr(L.node, '/') + 1;
			continue;
		}
		if (me == 0) {
			ctl_reply_free(&r);
			L.held = true;
			uv_timer_stop(&L.wait_timer);
			return CTL_OK;
		}
		if (nonblock || L.timed_out) {
			say_busy(c, r.children[0], nonblock ? "busy" : "timed out");
			ctl_reply_free(&r);
			withdraw(c);
			return CTL_NO;
		}
		free(L.pred);
		L.pred = ctl_join(L.dir, r.children[me - 1]);
		ctl_reply_free(&r);
		L.pred_event = false;
		struct ctl_reply e;
		memset(&e, 0, sizeof(e));
		int erc = ctl_exists(c, L.pred, true, &e);
		ctl_reply_free(&e);
		if (erc == ZNONODE)
			continue;
		if (erc != ZOK) {
			rc = ctl_fail(c, L.pred, erc, false);
			withdraw(c);
			return rc;
		}
		while (!L.pred_event && !L.lost && !L.signo && !L.timed_out)
			uv_run(c->loop, UV_RUN_ONCE);
	}
}

/* ---- running COMMAND ---- */

/* In the child: the signal state coordctl was started with (invariant 3). */
static void restore_signals(void)
{
	for (int i = 0; i < NFWD; i++)
		if (L.caught[i])
			signal(fwd_signals[i], SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTTOU, SIG_DFL);
	sigprocmask(SIG_SETMASK, &L.orig_mask, NULL);
}

/* Runs argv; returns its exit status (shell style) or a reported failure. */
static int run(struct ctl *c, char **argv)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		ctl_msg("lock: pipe: %s", strerror(errno));
		return CTL_NO;
	}
	L.fg = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
	pid_t parent = getpid();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		setpgid(0, 0);
		if (L.fg) {
			signal(SIGTTOU, SIG_IGN);
			tcsetpgrp(STDIN_FILENO, getpid());
		}
		/* Invariant 2; and if coordctl is already gone, do not start at all. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		restore_signals();
		execvp(argv[0], argv);
		int e = errno;
		ssize_t w = write(pfd[1], &e, sizeof(e));
		(void)w;
		_exit(e == ENOENT ? 127 : 126);
	}
	close(pfd[1]);
	if (pid < 0) {
		ctl_msg("lock: fork: %s", strerror(errno));
		close(pfd[0]);
		return CTL_NO;
	}
	setpgid(pid, pid); /* the child does it too; whoever is first wins */
	if (L.fg)
		give_terminal(pid);
	L.pid = pid;
	L.running = true;
	int e = 0;
	ssize_t n;
	while ((n = read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (n == (ssize_t)sizeof(e))
		ctl_msg("lock: cannot run %s: %s", argv[0], strerror(e));
	while (L.running)
		uv_run(c->loop, UV_RUN_ONCE);
	uv_timer_stop(&L.kill_timer);
	if (L.fg)
		take_terminal();
	if (WIFSIGNALED(L.status))
		return 128 + WTERMSIG(L.status);
	return WEXITSTATUS(L.status);
}

/* ---- the command ---- */

static void close_handles(void)
{
	for (int i = 0; i < NFWD; i++)
		if (L.caught[i])
			uv_close((uv_handle_t *)&L.sigs[i], NULL);
	uv_close((uv_handle_t *)&L.sigchld, NULL);
	uv_close((uv_handle_t *)&L.wait_timer, NULL);
	uv_close((uv_handle_t *)&L.grace_timer, NULL);
	uv_close((uv_handle_t *)&L.kill_timer, NULL);
}

int cmd_lock(struct ctl *c, int argc, char **argv)
{
	static const char syn[] = "lock [-n] [-w SECONDS] PATH [--] COMMAND [ARG...]";
	bool nonblock = false;
	double wait_s = -1;
	int o, rc;
	/*
	 * Options may come before PATH and between PATH and "--"; what follows
	 * PATH and those options is COMMAND, untouched.
	 */
	for (int pass = 0; pass < 2; pass++) {
		while ((o = ctl_getopt(c, argc, argv, "+nw:", NULL)) != -1) {
			switch (o) {
			case 'n':
				nonblock = true;
				break;
			case 'w': {
				char *end;
				wait_s = strtod(optarg, &end);
				if (end == optarg || *end || !(wait_s >= 0) || wait_s > 1e9) {
					ctl_msg("lock: -w wants seconds, not '%s'", optarg);
					return CTL_USAGE;
				}
				break;
			}
			default:
				return ctl_usage(syn);
			}
		}
		if (pass == 1 || optind >= argc)
			break;
		/* argv from PATH on: PATH stands where getopt expects argv[0]. */
		L.dir = argv[optind];
		argc -= optind;
		argv += optind;
		optind = 0;
		if (argc > 1 && !strcmp(argv[1], "--")) {
			optind = 2;
			break;
		}
		if (argc < 2 || argv[1][0] != '-') {
			optind = 1;
			break;
		}
	}
	if (!L.dir || optind >= argc)
		return ctl_usage(syn);
	char **command = argv + optind;
	if (!ctl_path_ok(c, L.dir, false))
		return CTL_USAGE;
	if (!strcmp(L.dir, "/")) {
		ctl_msg("lock: PATH must not be /");
		return CTL_USAGE;
	}
	L.c = c;
	make_prefix();

	sigprocmask(SIG_SETMASK, NULL, &L.orig_mask);
	for (int i = 0; i < NFWD; i++) {
		sigaction(fwd_signals[i], NULL, &L.orig[i]);
		/* A signal we were started ignoring (nohup, "&" in a script) stays so. */
		if (L.orig[i].sa_handler == SIG_IGN)
			continue;
		L.caught[i] = true;
		uv_signal_init(c->loop, &L.sigs[i]);
		uv_signal_start(&L.sigs[i], on_signal, fwd_signals[i]);
	}
	uv_signal_init(c->loop, &L.sigchld);
	uv_signal_start(&L.sigchld, on_sigchld, SIGCHLD);
	uv_timer_init(c->loop, &L.wait_timer);
	uv_timer_init(c->loop, &L.grace_timer);
	uv_timer_init(c->loop, &L.kill_timer);
	c->on_state = on_state;
	c->on_watch = on_watch;

	if ((rc = ctl_connect(c)) != CTL_OK)
		goto out;
	rc = acquire(c, nonblock, wait_s);
	if (L.signo) {
		/* Invariant 4: withdrawn; end by the same signal. */
		ctl_close(c);
		for (int i = 0; i < NFWD; i++)
			if (L.caught[i])
				uv_signal_stop(&L.sigs[i]);
		signal(L.signo, SIG_DFL);
		raise(L.signo);
		goto out;
	}
	if (rc != CTL_OK)
		goto out;
	if (L.lost) {
		ctl_msg("lock %s: lost before the command could start: %s", L.dir, L.lost);
		rc = CTL_CONN;
		goto out;
	}
	watch_own();
	rc = run(c, command);
	if (L.lost) {
		ctl_msg("lock %s: the command ran without the lock at its end (%s); exiting with %d",
			L.dir, L.lost, CTL_CONN);
		rc = CTL_CONN;
		goto out;
	}
	L.releasing = true;
	int drc = ctl_delete(c, L.node, -1);
	if (drc != ZOK && drc != ZNONODE)
		ctl_msg("lock %s: releasing %s: %s; it goes when the session ends", L.dir, L.node,
			zk_strerror(drc));
out:
	close_handles();
	free(L.node);
	free(L.pred);
	return rc;
}
