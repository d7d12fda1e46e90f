/*
 * zkbench.c - a load generator for ZooKeeper-compatible servers.
 *
 * It drives one server (Apache ZooKeeper or coordd) through the ZooKeeper C
 * client's asynchronous API (libzookeeper_mt), so both servers see the same
 * client, the same wire traffic and the same client-side CPU cost.  Each run
 * prints one machine-readable line of key=value pairs; bench/run.sh parses
 * those lines and builds the comparison table.
 *
 * Load model: N sessions (one TCP connection and one zhandle each), each
 * keeping W requests outstanding.  W = 1 is a closed loop and shows true
 * per-request latency; a large W shows throughput, and the latency it reports
 * then includes queueing behind the other W - 1 requests.
 *
 * Design notes, numbered so comments can refer to them:
 *
 * (1) Nothing is allocated per operation on our side.  Every session owns a
 *     preallocated array of W slots; a slot holds the start time and the
 *     path of one outstanding request and is handed to the client library as
 *     the completion's data pointer.  When the completion runs, the slot is
 *     reused at once for the next request.
 * (2) Latency is the time from just before zoo_aXXX() to the start of its
 *     completion callback, read from CLOCK_MONOTONIC.  It is recorded in a
 *     per-session log-linear histogram (under 0.8% relative error) and the
 *     histograms are merged after the run, so recording takes no lock and
 *     no memory.
 * (3) libzookeeper_mt runs each session's completions on that session's
 *     completion thread, while the main thread issues the first W requests
 *     of a phase.  A per-session mutex serialises the two; it is
 *     uncontended in the steady state.
 * (4) Ops that start before the end of warm-up are neither counted nor
 *     timed.  Throughput is measured ops divided by the time from the end
 *     of warm-up to the last completion, so the drain of the final window
 *     is included and nothing is double counted.
 * (5) A run of "create" makes fresh, uniquely named znodes and deletes them
 *     afterwards; the first --duration seconds of that delete phase are
 *     measured too and reported as their own line (op=delete), and the rest
 *     is deleted unmeasured with a wide window, unless --keep is given.
 *     setData and getData work on a fixed set of keys created before, and
 *     deleted after, the run.
 * (6) The CPU and fsync counters (struct counters) are read at both ends of
 *     the measured interval, so server_cpu_us_per_op and ops_per_fsync
 *     cover exactly the requests that were timed.
 * (7) Ensembles (bench/cluster.sh): --spread pins session i to server
 *     i % n of the -s list, --server-pid sums the CPU of every server
 *     process, --mntr-server counts one server's (the leader's) fsyncs, and
 *     --failover times the first write after the leader is killed (see
 *     failover_test()).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

#define PATH_LEN 256
#define STALL_SECS 30		/* give up when no request completes for this long */
#define SETUP_WINDOW 64		/* outstanding requests per session when populating keys */
#define MAX_PAYLOAD (1024 * 1024 - 1024)	/* under jute.maxbuffer */
#define MAX_PIDS 16		/* --server-pid PID,PID,... */
#define MAX_HOSTS 16		/* servers in a -s list */

/*
 * Log-linear histogram of nanoseconds, the HdrHistogram layout: values
 * below 2^HIST_SUB_BITS get one bucket each; above that every power of two
 * is split into 2^(HIST_SUB_BITS - 1) buckets.
 */
#define HIST_SUB_BITS 8
#define HIST_HALF (1u << (HIST_SUB_BITS - 1))
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_HALF + HIST_HALF)

struct hist {
	uint64_t n;
	uint64_t max;
	uint64_t sum;
	uint64_t count[HIST_BUCKETS];
};

enum op_kind { OP_CREATE, OP_SET, OP_GET, OP_MIXED, OP_DELETE, OP_KIND_MAX };

static const char *const op_names[OP_KIND_MAX] = {
	[OP_CREATE] = "create",
	[OP_SET] = "setData",
	[OP_GET] = "getData",
	[OP_MIXED] = "mixed",
	[OP_DELETE] = "delete",
};

/* What the sessions do in the current phase; see phase_next(). */
enum phase_kind {
	PHASE_POPULATE,		/* create the keys for set/get/mixed */
	PHASE_RUN,		/* the measured workload */
	PHASE_DELETE_CREATED,	/* delete what PHASE_RUN created */
	PHASE_DELETE_KEYS,	/* delete the keys */
	PHASE_KIND_MAX
};

struct session;

/* One outstanding request, see (1). */
struct slot {
	struct session *s;
	uint64_t t0;
	char path[PATH_LEN];
};

struct session {
	int idx;
	zhandle_t *zh;
	pthread_mutex_t lock;	/* see (3) */
	bool connected;
	bool done;		/* no request outstanding and none to send */
	int inflight;
	uint64_t rng;
	uint64_t next_seq;	/* next znode number PHASE_RUN creates */
	uint64_t del_seq;	/* next znode number PHASE_DELETE_CREATED deletes */
	uint64_t next_key;	/* populate/delete-keys progress, this session's share */
	uint64_t errors;
	int first_error;
	struct slot *slots;
	struct hist hist;
};

struct config {
	const char *server;
	int sessions;
	int window;
	enum op_kind op;
	int size;
	double duration;
	uint64_t op_limit;	/* 0: run for duration instead */
	double warmup;
	const char *prefix;
	unsigned keys;
	int read_pct;
	bool keep;
	double connect_timeout;
	pid_t server_pids[MAX_PIDS];	/* the server's processes (an ensemble: all) */
	int nserver_pids;	/* 0: unknown */
	bool mntr;		/* count the server's fsyncs through mntr */
	const char *mntr_server;	/* whose mntr (HOST:PORT); NULL: the first of server */
	bool spread;		/* session i connects to server i % n of the list only */
	pid_t kill_pid;		/* --failover: the leader's pid */
	const char *kill_server;	/* --failover: the leader's HOST:PORT */
	int verbose;
};

struct bench {
	struct config cfg;
	struct session *sess;
	int slots;		/* per session: max(window, SETUP_WINDOW) */
	char *payload;
	unsigned runid;

	/* The current phase, written by the main thread while all sessions idle. */
	enum phase_kind phase;
	uint64_t phase_limit;

	_Atomic uint64_t measure_start;	/* ns; ops starting earlier are not counted */
	_Atomic uint64_t last_done;	/* ns of the latest measured completion */
	_Atomic uint64_t last_any;	/* ns of the latest completion, for the watchdog */
	_Atomic uint64_t issued;	/* measured ops issued, for phase_limit */
	atomic_bool stop;
	atomic_bool broken;	/* a connection failed: stop, and skip cleanup */

	pthread_mutex_t lock;	/* protects active and the session connected flags */
	pthread_cond_t cond;
	int active;		/* sessions not yet done with the phase */
};

static struct bench bench;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000u, .tv_nsec = ns % 1000000000u };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p) {
		fprintf(stderr, "zkbench: out of memory\n");
		exit(1);
	}
	return p;
}

/* xorshift64*: cheap and good enough to pick keys and the read/write mix. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static unsigned hist_index(uint64_t v)
{
	if (v < 2 * HIST_HALF)
		return (unsigned)v;
	unsigned e = (unsigned)(63 - __builtin_clzll(v)) - (HIST_SUB_BITS - 1);
	return e * HIST_HALF + (unsigned)(v >> e);
}

/* The middle of bucket idx, the value percentiles report. */
static uint64_t hist_value(unsigned idx)
{
	if (idx < 2 * HIST_HALF)
		return idx;
	unsigned e = idx / HIST_HALF - 1;
	uint64_t m = idx - e * HIST_HALF;
	return (m << e) + ((1ull << e) >> 1);
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->count[hist_index(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

static void hist_merge(struct hist *into, const struct hist *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->count[i] += from->count[i];
	into->n += from->n;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
}

/* The q-quantile (0 < q <= 1) in ns: the smallest recorded bucket holding rank ceil(q*n). */
static uint64_t hist_quantile(const struct hist *h, double q)
{
	if (h->n == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->n + 0.999999);
	uint64_t seen = 0;

	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank) {
			uint64_t v = hist_value(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

/*
 * Counters read at both ends of the measured interval: CPU time used by us,
 * by the server (when its pid is known) and by the whole machine, so a
 * reader can tell a saturated server from a noisy neighbour; and, with
 * --mntr, the server's own count of log fsyncs, which shows that it does
 * sync and how many requests each sync carries (group commit).
 */
struct counters {
	double client;		/* seconds, this process */
	double server;		/* seconds, the --server-pid process; < 0 if unknown */
	double machine;		/* seconds, all CPUs busy (steal included) */
	long long fsyncs;	/* from mntr; < 0 if unknown */
	uint64_t wall;		/* ns, when these were read */
};

/*
 * Send a four-letter word to target (HOST:PORT; of a list "h1:p1,h2:p2"
 * only the first) and read the reply into buf (NUL terminated, truncated
 * to cap - 1).  Returns the reply's length or -1.  Blocking, with a
 * two-second timeout; used outside the hot path only.
 */
static ssize_t four_letter(const char *target, const char *cmd, char *buf, size_t cap)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	struct timeval tv = { .tv_sec = 2 };
	char host[256];
	size_t first = strcspn(target, ",");
	const char *colon = memrchr(target, ':', first);
	size_t len = 0;
	int fd = -1;

	size_t hlen = colon ? (size_t)(colon - target) : 0;
	if (!colon || hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, target, hlen);
	host[hlen] = '\0';
	char port[16];
	snprintf(port, sizeof(port), "%.*s", (int)(target + first - colon - 1), colon + 1);
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		goto fail;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	freeaddrinfo(res);
	return (ssize_t)len;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return -1;
}

/*
 * The server's log fsync count from mntr: zk_cnt_fsynctime in Apache
 * ZooKeeper (one sample per log flush), zk_fsync_count in coordd.  Of an
 * ensemble, one server's (--mntr-server; the leader's, from bench/cluster.sh).
 */
static long long mntr_fsyncs(void)
{
	static const char *const keys[] = { "zk_fsync_count\t", "zk_cnt_fsynctime\t" };
	static char buf[65536];

	const char *target = bench.cfg.mntr_server ? bench.cfg.mntr_server : bench.cfg.server;

	if (four_letter(target, "mntr", buf, sizeof(buf)) <= 0)
		return -1;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *p = strstr(buf, keys[i]);
		if (p)
			return strtoll(p + strlen(keys[i]), NULL, 10);
	}
	return -1;
}

static double proc_stat_seconds(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long utime, stime;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces; fields resume after its ')'. */
	const char *p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double machine_seconds(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return -1;
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
		       &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -1;
	/* user nice system irq softirq steal: everything but idle and iowait. */
	unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static void counters_take(struct counters *cs)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	cs->client = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	cs->server = bench.cfg.nserver_pids ? 0 : -1;
	for (int i = 0; i < bench.cfg.nserver_pids; i++) {
		double t = proc_stat_seconds(bench.cfg.server_pids[i]);

		if (t < 0) {
			cs->server = -1;
			break;
		}
		cs->server += t;
	}
	cs->machine = machine_seconds();
	cs->fsyncs = bench.cfg.mntr ? mntr_fsyncs() : -1;
	cs->wall = now_ns();
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct session *s = ctx;

	(void)zh;
	(void)path;
	if (type != ZOO_SESSION_EVENT)
		return;
	pthread_mutex_lock(&bench.lock);
	if (state == ZOO_CONNECTED_STATE) {
		s->connected = true;
	} else {
		if (s->connected && bench.cfg.verbose)
			fprintf(stderr, "zkbench: session %d: state %d\n", s->idx, state);
		s->connected = false;
	}
	pthread_cond_broadcast(&bench.cond);
	pthread_mutex_unlock(&bench.lock);
}

static void session_done_locked(struct session *s)
{
	/* s->lock is held; bench.lock nests inside it. */
	s->done = true;
	pthread_mutex_lock(&bench.lock);
	if (--bench.active == 0)
		pthread_cond_broadcast(&bench.cond);
	pthread_mutex_unlock(&bench.lock);
}

static void make_created_path(char *buf, int sidx, uint64_t seq)
{
	snprintf(buf, PATH_LEN, "%s/c%08x-%d-%" PRIu64, bench.cfg.prefix, bench.runid, sidx, seq);
}

static void make_key_path(char *buf, uint64_t key)
{
	snprintf(buf, PATH_LEN, "%s/k%" PRIu64, bench.cfg.prefix, key);
}

/*
 * Pick the next request of the phase for slot sl of session s and fill in
 * its path.  Returns the kind of request, or OP_KIND_MAX when the session
 * has nothing more to send.  Called with s->lock held.
 */
static enum op_kind phase_next(struct session *s, struct slot *sl)
{
	const struct config *c = &bench.cfg;
	uint64_t key;

	if (atomic_load_explicit(&bench.stop, memory_order_relaxed))
		return OP_KIND_MAX;

	switch (bench.phase) {
	case PHASE_RUN:
		if (bench.phase_limit && now_ns() >= atomic_load(&bench.measure_start) &&
		    atomic_fetch_add(&bench.issued, 1) >= bench.phase_limit)
			return OP_KIND_MAX;
		if (c->op == OP_CREATE) {
			make_created_path(sl->path, s->idx, s->next_seq++);
			return OP_CREATE;
		}
		make_key_path(sl->path, rng_next(&s->rng) % c->keys);
		if (c->op == OP_MIXED)
			return (int)(rng_next(&s->rng) % 100) < c->read_pct ? OP_GET : OP_SET;
		return c->op;

	case PHASE_POPULATE:
	case PHASE_DELETE_KEYS:
		/* Session i owns keys i, i + sessions, i + 2 * sessions, ... */
		key = (uint64_t)s->idx + (uint64_t)c->sessions * s->next_key;
		if (key >= c->keys)
			return OP_KIND_MAX;
		s->next_key++;
		make_key_path(sl->path, key);
		return bench.phase == PHASE_POPULATE ? OP_CREATE : OP_DELETE;

	case PHASE_DELETE_CREATED:
		if (s->del_seq >= s->next_seq)
			return OP_KIND_MAX;
		make_created_path(sl->path, s->idx, s->del_seq++);
		return OP_DELETE;

	case PHASE_KIND_MAX:
		break;
	}
	return OP_KIND_MAX;
}

static void op_done(int rc, struct slot *sl);

static void string_cb(int rc, const char *value, const void *data)
{
	(void)value;
	op_done(rc, (struct slot *)data);
}

static void stat_cb(int rc, const struct Stat *stat, const void *data)
{
	(void)stat;
	op_done(rc, (struct slot *)data);
}

static void data_cb(int rc, const char *value, int len, const struct Stat *stat, const void *data)
{
	(void)value;
	(void)len;
	(void)stat;
	op_done(rc, (struct slot *)data);
}

static void void_cb(int rc, const void *data)
{
	op_done(rc, (struct slot *)data);
}

/*
 * Send the next request of the phase on slot sl, if there is one.
 * Returns true if a request went out.  Called with s->lock held.
 */
static bool slot_issue(struct session *s, struct slot *sl)
{
	enum op_kind kind = phase_next(s, sl);
	int rc;

	if (kind == OP_KIND_MAX)
		return false;
	sl->t0 = now_ns();
	switch (kind) {
	case OP_CREATE:
		rc = zoo_acreate(s->zh, sl->path, bench.payload, bench.cfg.size,
				 &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, string_cb, sl);
		break;
	case OP_SET:
		rc = zoo_aset(s->zh, sl->path, bench.payload, bench.cfg.size, -1, stat_cb, sl);
		break;
	case OP_GET:
		rc = zoo_aget(s->zh, sl->path, 0, data_cb, sl);
		break;
	case OP_DELETE:
		rc = zoo_adelete(s->zh, sl->path, -1, void_cb, sl);
		break;
	default:
		rc = ZBADARGUMENTS;
		break;
	}
	if (rc != ZOK) {
		/* The handle is unusable (closed or lost); end the phase everywhere. */
		if (s->errors++ == 0)
			s->first_error = rc;
		atomic_store(&bench.stop, true);
		atomic_store(&bench.broken, true);
		return false;
	}
	s->inflight++;
	return true;
}

/* Errors a phase expects: leftovers from an earlier run, or a create that failed. */
static bool rc_tolerated(int rc)
{
	switch (bench.phase) {
	case PHASE_POPULATE:
		return rc == ZNODEEXISTS;
	case PHASE_DELETE_KEYS:
	case PHASE_DELETE_CREATED:
		return rc == ZNONODE;
	default:
		return false;
	}
}

/* Every completion ends here, on the session's completion thread. */
static void op_done(int rc, struct slot *sl)
{
	uint64_t t1 = now_ns();
	struct session *s = sl->s;

	atomic_store_explicit(&bench.last_any, t1, memory_order_relaxed);
	pthread_mutex_lock(&s->lock);
	s->inflight--;
	if (rc == ZOK) {
		if (sl->t0 >= atomic_load_explicit(&bench.measure_start, memory_order_relaxed)) {
			hist_add(&s->hist, t1 - sl->t0);
			uint64_t last = atomic_load_explicit(&bench.last_done, memory_order_relaxed);
			while (t1 > last && !atomic_compare_exchange_weak(&bench.last_done, &last, t1))
				;
		}
	} else if (!rc_tolerated(rc)) {
		if (s->errors++ == 0)
			s->first_error = rc;
		if (bench.cfg.verbose)
			fprintf(stderr, "zkbench: %s: %s\n", sl->path, zerror(rc));
		/*
		 * A lost connection fails every outstanding request and a timeout
		 * means the server stopped answering: stop now, and skip cleanup.
		 */
		if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT ||
		    rc == ZSESSIONEXPIRED || rc == ZCLOSING) {
			atomic_store(&bench.stop, true);
			atomic_store(&bench.broken, true);
		}
	}
	if (!slot_issue(s, sl) && s->inflight == 0 && !s->done)
		session_done_locked(s);
	pthread_mutex_unlock(&s->lock);
}

/*
 * Run one phase on all sessions: fill every window, then wait until all
 * sessions are done.  A recorded phase keeps --window requests outstanding
 * and times ops from the end of warm-up (4); it stops after --duration
 * (or, for PHASE_RUN, --ops) or when phase_next() runs out of work.  An
 * unrecorded (setup or cleanup) phase uses every slot and ends when
 * phase_next() runs out of work.  c0 and c1, when given, receive the CPU
 * counters at the start and the end of the measured interval.
 */
static void run_phase(enum phase_kind phase, bool record, uint64_t *t_start, uint64_t *t_end,
		      struct counters *c0, struct counters *c1)
{
	const struct config *c = &bench.cfg;
	bool run = phase == PHASE_RUN;
	bool warmup = record && run && c->warmup > 0;
	int window = record ? c->window : bench.slots;
	uint64_t start = now_ns();

	bench.phase = phase;
	bench.phase_limit = run ? c->op_limit : 0;
	atomic_store(&bench.stop, false);
	atomic_store(&bench.issued, 0);
	atomic_store(&bench.last_done, 0);
	atomic_store(&bench.last_any, start);
	atomic_store(&bench.measure_start, record && !warmup ? start : UINT64_MAX);
	if (c0)
		counters_take(c0);

	pthread_mutex_lock(&bench.lock);
	bench.active = c->sessions;
	pthread_mutex_unlock(&bench.lock);

	for (int i = 0; i < c->sessions; i++) {
		struct session *s = &bench.sess[i];

		pthread_mutex_lock(&s->lock);
		s->done = false;
		s->next_key = 0;
		for (int w = 0; w < window; w++)
			if (!slot_issue(s, &s->slots[w]))
				break;
		if (s->inflight == 0)
			session_done_locked(s);
		pthread_mutex_unlock(&s->lock);
	}

	uint64_t mstart = start;
	if (warmup) {
		sleep_ns((uint64_t)(c->warmup * 1e9));
		mstart = now_ns();
		atomic_store(&bench.measure_start, mstart);
		if (c0)
			counters_take(c0);
	}
	if (record && !(run && c->op_limit)) {
		/* Timed: wake up at the deadline, or early when all sessions are done. */
		uint64_t until = mstart + (uint64_t)(c->duration * 1e9);
		uint64_t now;

		pthread_mutex_lock(&bench.lock);
		while (bench.active > 0 && (now = now_ns()) < until) {
			struct timespec ts;
			uint64_t left = until - now;

			if (left > 100000000u)
				left = 100000000u;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)left;
			ts.tv_sec += ts.tv_nsec / 1000000000;
			ts.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&bench.cond, &bench.lock, &ts);
		}
		pthread_mutex_unlock(&bench.lock);
		atomic_store(&bench.stop, true);
	}

	/*
	 * Drain.  A server that stops answering without closing the connection
	 * would leave us here for good, so give up after STALL_SECS without
	 * any completion.
	 */
	pthread_mutex_lock(&bench.lock);
	while (bench.active > 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&bench.cond, &bench.lock, &ts);
		if (bench.active > 0 &&
		    now_ns() - atomic_load(&bench.last_any) > STALL_SECS * 1000000000ull) {
			fprintf(stderr, "zkbench: no reply from %s for %d s, %d sessions waiting; giving up\n",
				c->server, STALL_SECS, bench.active);
			exit(3);
		}
	}
	pthread_mutex_unlock(&bench.lock);
	if (c1)
		counters_take(c1);

	if (t_start)
		*t_start = mstart;
	if (t_end) {
		uint64_t last = atomic_load(&bench.last_done);
		*t_end = last > mstart ? last : now_ns();
	}
}

static void print_line(const char *op, const struct hist *h, uint64_t errors, int first_error,
		       double secs, const struct counters *c0, const struct counters *c1)
{
	const struct config *c = &bench.cfg;
	/* CPU shares use the interval between the two readings, which may include a drain. */
	double wall = (double)(c1->wall - c0->wall) / 1e9;

	printf("op=%s sessions=%d window=%d size=%d ops=%" PRIu64 " errors=%" PRIu64
	       " secs=%.3f ops_per_sec=%.1f mean_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f"
	       " p999_us=%.1f max_us=%.1f client_cpu_pct=%.0f",
	       op, c->sessions, c->window, c->size, h->n, errors, secs,
	       secs > 0 ? (double)h->n / secs : 0.0,
	       h->n ? (double)h->sum / (double)h->n / 1e3 : 0.0,
	       (double)hist_quantile(h, 0.50) / 1e3, (double)hist_quantile(h, 0.90) / 1e3,
	       (double)hist_quantile(h, 0.99) / 1e3, (double)hist_quantile(h, 0.999) / 1e3,
	       (double)h->max / 1e3, wall > 0 ? 100.0 * (c1->client - c0->client) / wall : 0.0);
	if (c0->server >= 0 && c1->server >= 0 && wall > 0)
		printf(" server_cpu_pct=%.0f server_cpu_us_per_op=%.1f",
		       100.0 * (c1->server - c0->server) / wall,
		       h->n ? (c1->server - c0->server) * 1e6 / (double)h->n : 0.0);
	if (c0->machine >= 0 && c1->machine >= 0 && wall > 0)
		printf(" machine_cpu_pct=%.0f", 100.0 * (c1->machine - c0->machine) / wall);
	if (c0->fsyncs >= 0 && c1->fsyncs >= c0->fsyncs) {
		long long fsyncs = c1->fsyncs - c0->fsyncs;

		printf(" fsyncs=%lld ops_per_fsync=%.1f", fsyncs,
		       fsyncs ? (double)h->n / (double)fsyncs : 0.0);
	}
	if (c->op == OP_MIXED && strcmp(op, "mixed") == 0)
		printf(" read_pct=%d", c->read_pct);
	if (errors)
		printf(" first_error=\"%s\"", zerror(first_error));
	printf("\n");
	fflush(stdout);
}

/* Run a recorded phase and print its line.  Returns the number of errors. */
static uint64_t measure(enum phase_kind phase, const char *name)
{
	static struct hist total;	/* large; keep it off the stack */
	uint64_t t0, t1, errors = 0;
	int first_error = 0;

	for (int i = 0; i < bench.cfg.sessions; i++) {
		struct session *s = &bench.sess[i];

		memset(&s->hist, 0, sizeof(s->hist));
		s->errors = 0;
	}
	struct counters c0, c1;
	run_phase(phase, true, &t0, &t1, &c0, &c1);

	memset(&total, 0, sizeof(total));
	for (int i = 0; i < bench.cfg.sessions; i++) {
		struct session *s = &bench.sess[i];

		hist_merge(&total, &s->hist);
		if (s->errors && !errors)
			first_error = s->first_error;
		errors += s->errors;
	}
	double secs = (double)(t1 - t0) / 1e9;
	print_line(name, &total, errors, first_error, secs, &c0, &c1);
	return errors;
}

/* Run an unrecorded setup or cleanup phase.  Returns the number of errors. */
static uint64_t housekeeping(enum phase_kind phase)
{
	uint64_t errors = 0;

	for (int i = 0; i < bench.cfg.sessions; i++)
		bench.sess[i].errors = 0;
	run_phase(phase, false, NULL, NULL, NULL, NULL);
	for (int i = 0; i < bench.cfg.sessions; i++) {
		struct session *s = &bench.sess[i];

		if (s->errors)
			fprintf(stderr, "zkbench: setup/cleanup: %" PRIu64 " errors, first: %s\n",
				s->errors, zerror(s->first_error));
		errors += s->errors;
	}
	return errors;
}

#define HOST_LEN 128

/* Split a server list "h1:p1,h2:p2" into out; returns the count or -1. */
static int split_hosts(const char *list, char out[][HOST_LEN])
{
	int n = 0;

	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");

		if (len == 0 || len >= HOST_LEN || n == MAX_HOSTS) {
			fprintf(stderr, "zkbench: bad server list '%s'\n", list);
			return -1;
		}
		memcpy(out[n], p, len);
		out[n][len] = '\0';
		n++;
		p += len;
		if (*p == ',')
			p++;
	}
	if (n == 0)
		fprintf(stderr, "zkbench: empty server list\n");
	return n ? n : -1;
}

/* Open all sessions and wait until each is connected, or fail after the timeout. */
static int connect_all(void)
{
	const struct config *c = &bench.cfg;
	uint64_t deadline = now_ns() + (uint64_t)(c->connect_timeout * 1e9);

	static char hosts[MAX_HOSTS][HOST_LEN];
	int nhosts = c->spread ? split_hosts(c->server, hosts) : 0;

	if (nhosts < 0)
		return -1;
	for (int i = 0; i < c->sessions; i++) {
		struct session *s = &bench.sess[i];
		/* --spread: session i on server i % n alone, so the load is even. */
		const char *server = nhosts ? hosts[i % nhosts] : c->server;

		s->zh = zookeeper_init(server, watcher, 30000, NULL, s, 0);
		if (!s->zh) {
			fprintf(stderr, "zkbench: zookeeper_init %s: %s\n", server, strerror(errno));
			return -1;
		}
		/*
		 * By default the client re-resolves the server list with
		 * getaddrinfo() on every turn of its I/O loop: a socket, an open
		 * and a few more syscalls per request, which would bill the
		 * client's DNS habits to the server under test.
		 */
		zoo_set_servers_resolution_delay(s->zh, -1);
	}
	pthread_mutex_lock(&bench.lock);
	for (int i = 0; i < c->sessions; i++) {
		while (!bench.sess[i].connected && now_ns() < deadline) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50000000;
			ts.tv_sec += ts.tv_nsec / 1000000000;
			ts.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&bench.cond, &bench.lock, &ts);
		}
		if (!bench.sess[i].connected) {
			pthread_mutex_unlock(&bench.lock);
			fprintf(stderr, "zkbench: session %d: not connected to %s after %.0f s\n",
				i, c->server, c->connect_timeout);
			return -1;
		}
	}
	pthread_mutex_unlock(&bench.lock);
	return 0;
}

/* Create prefix and its ancestors; those that exist already are fine. */
static int ensure_prefix(zhandle_t *zh, const char *prefix)
{
	char path[PATH_LEN];
	size_t len = strlen(prefix);

	if (len >= sizeof(path) - 64 || prefix[0] != '/' || len < 2 || prefix[len - 1] == '/') {
		fprintf(stderr, "zkbench: bad prefix '%s'\n", prefix);
		return -1;
	}
	for (size_t i = 1; i <= len; i++) {
		if (prefix[i] != '/' && prefix[i] != '\0')
			continue;
		memcpy(path, prefix, i);
		path[i] = '\0';
		int rc = zoo_create(zh, path, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
		if (rc != ZOK && rc != ZNODEEXISTS) {
			fprintf(stderr, "zkbench: create %s: %s\n", path, zerror(rc));
			return -1;
		}
	}
	return 0;
}

/*
 * The disk's ceiling: append size-byte records to a fresh file in dir and
 * fdatasync after each, as a transaction log does, for duration seconds.
 */
static int fsync_test(const char *dir, int size, double duration)
{
	static struct hist h;
	char path[PATH_MAX];
	char *buf = xcalloc(1, (size_t)size);
	int fd;

	memset(buf, 'x', (size_t)size);
	snprintf(path, sizeof(path), "%s/zkbench-fsync.XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "zkbench: mkstemp %s: %s\n", path, strerror(errno));
		free(buf);
		return 1;
	}
	unlink(path);

	uint64_t start = now_ns(), until = start + (uint64_t)(duration * 1e9), t1 = start;
	struct counters c0, c1;
	counters_take(&c0);
	while (t1 < until) {
		uint64_t t0 = now_ns();

		if (write(fd, buf, (size_t)size) != size || fdatasync(fd) < 0) {
			fprintf(stderr, "zkbench: write/fdatasync %s: %s\n", dir, strerror(errno));
			close(fd);
			free(buf);
			return 1;
		}
		t1 = now_ns();
		hist_add(&h, t1 - t0);
	}
	double secs = (double)(t1 - start) / 1e9;
	bench.cfg.sessions = 1;
	bench.cfg.window = 1;
	bench.cfg.size = size;
	counters_take(&c1);
	print_line("fdatasync", &h, 0, 0, secs, &c0, &c1);
	close(fd);
	free(buf);
	return 0;
}

/*
 * --failover: how long an ensemble takes to take writes again after its
 * leader dies.  Before the kill, one "session" prober per survivor holds a
 * session on the survivors (both of them listed, as a client of a real
 * ensemble would) and has made one write.  At t0 zkbench sends SIGKILL to
 * the leader's pid (--kill-pid) and then, per survivor, two probers try to
 * write until one create succeeds:
 *   - session: the old session goes on creating znodes, 2 ms apart after an
 *     error; the client library reconnects by itself (after failing every
 *     server in the list it waits a sixtieth of the session timeout, 4 s
 *     here, so about 67 ms);
 *   - fresh: a new session on that survivor alone (requested timeout 600 ms
 *     while connecting, so the library retries a refused connection every
 *     10 ms), then a create; a handle that is not connected within 1 s is
 *     dropped for a new one.
 * The figures are times from t0 to the return of the first successful
 * create: per kind, and first_write_ms, the earliest of all.  Afterwards
 * every acknowledged create is looked up through every survivor (after a
 * sync); lost= counts those missing anywhere.
 */
#define FO_MAX_ACKED 64

struct fo_conn {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state;
};

struct fo_prober {
	int idx;
	bool fresh;
	char server[MAX_HOSTS * HOST_LEN];	/* fresh: one survivor; session: all */
	zhandle_t *zh;			/* session: connected before the kill */
	struct fo_conn conn;
	pthread_t th;
	uint64_t t0;			/* the kill */
	uint64_t deadline;
	uint64_t first_ok;		/* ns after t0 of the first acked create; 0: none */
	int attempts;
	int last_rc;
	char via[HOST_LEN];		/* the server that took the write */
	int nacked;
	char acked[FO_MAX_ACKED][PATH_LEN];
};

static void fo_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct fo_conn *fc = ctx;

	(void)zh;
	(void)path;
	if (type != ZOO_SESSION_EVENT || !fc)
		return;
	pthread_mutex_lock(&fc->lock);
	fc->state = state;
	pthread_cond_broadcast(&fc->cond);
	pthread_mutex_unlock(&fc->lock);
}

/* A handle on server, connected within wait_ms, or NULL. */
static zhandle_t *fo_connect(struct fo_conn *fc, const char *server, int timeout_ms, uint64_t wait_ns)
{
	uint64_t until = now_ns() + wait_ns;

	pthread_mutex_lock(&fc->lock);
	fc->state = 0;
	pthread_mutex_unlock(&fc->lock);
	zhandle_t *zh = zookeeper_init(server, fo_watcher, timeout_ms, NULL, fc, 0);
	if (!zh)
		return NULL;
	zoo_set_servers_resolution_delay(zh, -1);
	pthread_mutex_lock(&fc->lock);
	while (fc->state != ZOO_CONNECTED_STATE && now_ns() < until) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 2000000;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&fc->cond, &fc->lock, &ts);
	}
	bool ok = fc->state == ZOO_CONNECTED_STATE;
	pthread_mutex_unlock(&fc->lock);
	if (!ok) {
		zookeeper_close(zh);
		return NULL;
	}
	return zh;
}

/* One create on p->zh; records it if acknowledged. */
static int fo_write(struct fo_prober *p)
{
	char path[PATH_LEN];

	p->attempts++;
	snprintf(path, sizeof(path), "%s/%c%08x-%d-%d", bench.cfg.prefix, p->fresh ? 'f' : 's',
		 bench.runid, p->idx, p->attempts);
	int rc = zoo_create(p->zh, path, bench.payload, bench.cfg.size, &ZOO_OPEN_ACL_UNSAFE,
			    ZOO_PERSISTENT, NULL, 0);
	if (rc == ZOK || rc == ZNODEEXISTS) {
		/* NODEEXISTS: an earlier attempt's create went through after all. */
		if (p->nacked < FO_MAX_ACKED)
			snprintf(p->acked[p->nacked++], PATH_LEN, "%s", path);
		const char *cur = zoo_get_current_server(p->zh);
		snprintf(p->via, sizeof(p->via), "%s", cur ? cur : "?");
		return ZOK;
	}
	p->last_rc = rc;
	return rc;
}

static void *fo_run(void *arg)
{
	struct fo_prober *p = arg;

	while (now_ns() < p->deadline) {
		if (p->fresh && !p->zh) {
			p->zh = fo_connect(&p->conn, p->server, 600, 1000000000u);
			if (!p->zh) {
				p->last_rc = ZCONNECTIONLOSS;
				continue;
			}
		}
		if (fo_write(p) == ZOK) {
			p->first_ok = now_ns() - p->t0;
			break;
		}
		if (p->fresh && zoo_state(p->zh) != ZOO_CONNECTED_STATE) {
			zookeeper_close(p->zh);
			p->zh = NULL;
		}
		sleep_ns(2000000);
	}
	return NULL;
}

static void fo_sync_cb(int rc, const char *value, const void *data)
{
	struct fo_conn *fc = (struct fo_conn *)data;

	(void)value;
	pthread_mutex_lock(&fc->lock);
	fc->state = rc == ZOK ? 1 : -1;
	pthread_cond_broadcast(&fc->cond);
	pthread_mutex_unlock(&fc->lock);
}

/* Acknowledged creates of probers that cannot be found through server. */
static int fo_verify(const char *server, struct fo_prober *pr, int npr)
{
	struct fo_conn fc, sc;
	int missing = 0;

	pthread_mutex_init(&fc.lock, NULL);
	pthread_cond_init(&fc.cond, NULL);
	pthread_mutex_init(&sc.lock, NULL);
	pthread_cond_init(&sc.cond, NULL);
	zhandle_t *zh = fo_connect(&fc, server, 10000, 30000000000u);
	if (!zh) {
		fprintf(stderr, "zkbench: failover: cannot connect to %s to verify\n", server);
		return -1;
	}
	/* sync first, so the lookups see everything the leader committed. */
	sc.state = 0;
	int rc = zoo_async(zh, "/", fo_sync_cb, &sc);
	uint64_t until = now_ns() + 30000000000u;
	pthread_mutex_lock(&sc.lock);
	while (rc == ZOK && sc.state == 0 && now_ns() < until) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&sc.cond, &sc.lock, &ts);
	}
	if (sc.state == 0)
		sc.state = -1;	/* no answer in 30 s */
	pthread_mutex_unlock(&sc.lock);
	if (rc != ZOK || sc.state < 0) {
		fprintf(stderr, "zkbench: failover: sync on %s failed\n", server);
		zookeeper_close(zh);
		return -1;
	}
	for (int i = 0; i < npr; i++)
		for (int j = 0; j < pr[i].nacked; j++) {
			struct Stat st;

			rc = zoo_exists(zh, pr[i].acked[j], 0, &st);
			if (rc != ZOK) {
				fprintf(stderr, "zkbench: failover: acknowledged %s: %s on %s\n",
					pr[i].acked[j], zerror(rc), server);
				missing++;
			}
		}
	zookeeper_close(zh);
	return missing;
}

static int failover_test(void)
{
	struct config *c = &bench.cfg;
	static char hosts[MAX_HOSTS][HOST_LEN];
	static struct fo_prober pr[2 * MAX_HOSTS];
	char survivors[MAX_HOSTS * HOST_LEN] = "";
	int nhosts = split_hosts(c->server, hosts), nsurv = 0, npr = 0;

	if (nhosts < 0)
		return 2;
	if (!c->kill_pid || !c->kill_server) {
		fprintf(stderr, "zkbench: --failover needs --kill-pid and --kill-server\n");
		return 2;
	}
	for (int i = 0; i < nhosts; i++) {
		if (!strcmp(hosts[i], c->kill_server))
			continue;
		if (nsurv++)
			strcat(survivors, ",");
		strcat(survivors, hosts[i]);
	}
	if (nsurv == nhosts || nsurv == 0) {
		fprintf(stderr, "zkbench: --kill-server %s is not one of %s\n", c->kill_server, c->server);
		return 2;
	}
	for (int i = 0; i < nhosts; i++) {
		if (!strcmp(hosts[i], c->kill_server))
			continue;
		for (int k = 0; k < 2; k++) {
			struct fo_prober *p = &pr[npr];

			p->idx = npr++;
			p->fresh = k == 1;
			snprintf(p->server, sizeof(p->server), "%s", p->fresh ? hosts[i] : survivors);
			pthread_mutex_init(&p->conn.lock, NULL);
			pthread_cond_init(&p->conn.cond, NULL);
		}
	}
	/* The session probers: connected, and one write done, before the kill. */
	for (int i = 0; i < npr; i++) {
		struct fo_prober *p = &pr[i];

		if (p->fresh)
			continue;
		p->zh = fo_connect(&p->conn, p->server, 4000, 10000000000u);
		if (!p->zh) {
			fprintf(stderr, "zkbench: failover: cannot connect to %s\n", p->server);
			return 1;
		}
		if (ensure_prefix(p->zh, c->prefix) < 0 || fo_write(p) != ZOK) {
			fprintf(stderr, "zkbench: failover: first write through %s failed: %s\n",
				p->server, zerror(p->last_rc));
			return 1;
		}
	}
	if (c->verbose)
		zoo_set_debug_level(ZOO_LOG_LEVEL_INFO);

	uint64_t t0 = now_ns();
	if (kill(c->kill_pid, SIGKILL) < 0) {
		fprintf(stderr, "zkbench: kill %ld: %s\n", (long)c->kill_pid, strerror(errno));
		return 1;
	}
	for (int i = 0; i < npr; i++) {
		pr[i].t0 = t0;
		pr[i].deadline = t0 + (uint64_t)(c->connect_timeout * 1e9);
		pr[i].attempts = pr[i].fresh ? 0 : pr[i].attempts;
		if (pthread_create(&pr[i].th, NULL, fo_run, &pr[i]) != 0) {
			fprintf(stderr, "zkbench: pthread_create failed\n");
			return 1;
		}
	}
	for (int i = 0; i < npr; i++)
		pthread_join(pr[i].th, NULL);

	uint64_t best = 0, best_kind[2] = { 0, 0 };
	const char *via = "-";
	int failed = 0, lost = 0;
	for (int i = 0; i < npr; i++) {
		struct fo_prober *p = &pr[i];

		if (!p->first_ok) {
			failed++;
			fprintf(stderr, "zkbench: failover: %s prober on %s: no write in %.0f s, last: %s\n",
				p->fresh ? "fresh" : "session", p->server, c->connect_timeout,
				zerror(p->last_rc));
			continue;
		}
		if (!best_kind[p->fresh] || p->first_ok < best_kind[p->fresh])
			best_kind[p->fresh] = p->first_ok;
		if (!best || p->first_ok < best) {
			best = p->first_ok;
			via = p->via;
		}
	}
	for (int i = 0; i < nhosts; i++) {
		if (!strcmp(hosts[i], c->kill_server))
			continue;
		int m = fo_verify(hosts[i], pr, npr);
		if (m < 0)
			failed++;
		else
			lost += m;
	}
	int acked = 0;
	for (int i = 0; i < npr; i++)
		acked += pr[i].nacked;
	printf("op=failover killed=%s first_write_ms=%.1f session_ms=%.1f fresh_ms=%.1f via=%s"
	       " probers=%d failed=%d acked=%d lost=%d\n",
	       c->kill_server, (double)best / 1e6, (double)best_kind[0] / 1e6,
	       (double)best_kind[1] / 1e6, via, npr, failed, acked, lost);
	fflush(stdout);
	for (int i = 0; i < npr; i++)
		if (pr[i].zh)
			zookeeper_close(pr[i].zh);
	return failed || lost ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: zkbench [options]\n"
		"       zkbench --probe [-s host:port] [-t secs]\n"
		"       zkbench --fsync-test DIR [-b bytes] [-d secs]\n"
		"       zkbench --4lw CMD [-s host:port]\n"
		"       zkbench --failover -s h1:p1,h2:p2,h3:p3 --kill-pid PID --kill-server h:p [-t secs]\n"
		"Drive a ZooKeeper-compatible server with the C client's async API and print\n"
		"one line of key=value figures per measured phase.\n"
		"  -s, --server HOST:PORT   server to load (127.0.0.1:2181); a list h1:p1,h2:p2\n"
		"                           lets the client library pick one per session\n"
		"      --spread             with a list: session i uses server i %% n alone\n"
		"  -c, --sessions N         sessions, one connection each (1)\n"
		"  -w, --window N           outstanding requests per session (1)\n"
		"  -o, --op OP              create, setData (set), getData (get) or mixed (create)\n"
		"  -b, --size BYTES         payload of create and setData (100)\n"
		"  -d, --duration SECS      measured time (5)\n"
		"  -n, --ops N              stop after N measured ops instead\n"
		"  -W, --warmup SECS        run untimed first (0)\n"
		"  -p, --prefix PATH        parent znode of everything created (/zkbench)\n"
		"  -k, --keys N             keys for setData/getData/mixed (1000)\n"
		"  -r, --read-pct PCT       getData share of mixed (90)\n"
		"      --keep               leave the znodes in place afterwards\n"
		"  -t, --connect-timeout S  give up connecting after S seconds (10)\n"
		"      --probe              connect, read /, exit 0 if it worked\n"
		"      --fsync-test DIR     measure write+fdatasync of -b bytes in DIR\n"
		"      --server-pid PID[,PID] also report the CPU use of these processes (summed)\n"
		"      --mntr               also report the server's fsyncs (needs mntr allowed)\n"
		"      --mntr-server H:P    read mntr from this server (default: the first of -s)\n"
		"      --failover           kill --kill-pid (the leader, --kill-server) and time\n"
		"                           the first write through a survivor; -t gives up\n"
		"      --4lw CMD            send a four-letter word, print the reply\n"
		"  -v, --verbose            more client logging (repeat for more)\n"
		"  -h, --help\n"
		"A create run also reports the deletion of what it created (op=delete).\n");
}

static int parse_op(const char *s, enum op_kind *op)
{
	if (!strcmp(s, "create"))
		*op = OP_CREATE;
	else if (!strcmp(s, "setData") || !strcmp(s, "set"))
		*op = OP_SET;
	else if (!strcmp(s, "getData") || !strcmp(s, "get"))
		*op = OP_GET;
	else if (!strcmp(s, "mixed"))
		*op = OP_MIXED;
	else
		return -1;
	return 0;
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_secs(const char *s, double *out)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 86400)
		return -1;
	*out = v;
	return 0;
}

enum {
	OPT_KEEP = 256, OPT_PROBE, OPT_FSYNC, OPT_SERVER_PID, OPT_MNTR, OPT_4LW, OPT_SPREAD,
	OPT_MNTR_SERVER, OPT_FAILOVER, OPT_KILL_PID, OPT_KILL_SERVER
};

/* "PID[,PID...]" into c->server_pids. */
static int parse_pids(const char *s, struct config *c)
{
	char buf[256];
	long v;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	c->nserver_pids = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (c->nserver_pids == MAX_PIDS || parse_long(tok, 1, INT_MAX, &v) < 0)
			return -1;
		c->server_pids[c->nserver_pids++] = (pid_t)v;
	}
	return c->nserver_pids ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "sessions", required_argument, NULL, 'c' },
		{ "window", required_argument, NULL, 'w' },
		{ "op", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 'b' },
		{ "duration", required_argument, NULL, 'd' },
		{ "ops", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "keys", required_argument, NULL, 'k' },
		{ "read-pct", required_argument, NULL, 'r' },
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "connect-timeout", required_argument, NULL, 't' },
		{ "probe", no_argument, NULL, OPT_PROBE },
		{ "fsync-test", required_argument, NULL, OPT_FSYNC },
		{ "server-pid", required_argument, NULL, OPT_SERVER_PID },
		{ "mntr", no_argument, NULL, OPT_MNTR },
		{ "4lw", required_argument, NULL, OPT_4LW },
		{ "spread", no_argument, NULL, OPT_SPREAD },
		{ "mntr-server", required_argument, NULL, OPT_MNTR_SERVER },
		{ "failover", no_argument, NULL, OPT_FAILOVER },
		{ "kill-pid", required_argument, NULL, OPT_KILL_PID },
		{ "kill-server", required_argument, NULL, OPT_KILL_SERVER },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config *c = &bench.cfg;
	const char *fsync_dir = NULL;
	const char *four = NULL;
	bool probe = false, failover = false;
	long v;
	int opt;

	*c = (struct config){
		.server = "127.0.0.1:2181", .sessions = 1, .window = 1, .op = OP_CREATE,
		.size = 100, .duration = 5, .prefix = "/zkbench", .keys = 1000,
		.read_pct = 90, .connect_timeout = 10,
	};
	while ((opt = getopt_long(argc, argv, "s:c:w:o:b:d:n:W:p:k:r:t:vh", longopts, NULL)) != -1) {
		bool bad = false;

		switch (opt) {
		case 's': c->server = optarg; break;
		case 'c': bad = parse_long(optarg, 1, 4096, &v) < 0; c->sessions = (int)v; break;
		case 'w': bad = parse_long(optarg, 1, 65536, &v) < 0; c->window = (int)v; break;
		case 'o': bad = parse_op(optarg, &c->op) < 0; break;
		case 'b': bad = parse_long(optarg, 0, MAX_PAYLOAD, &v) < 0; c->size = (int)v; break;
		case 'd': bad = parse_secs(optarg, &c->duration) < 0; break;
		case 'n': bad = parse_long(optarg, 1, LONG_MAX, &v) < 0; c->op_limit = (uint64_t)v; break;
		case 'W': bad = parse_secs(optarg, &c->warmup) < 0; break;
		case 'p': c->prefix = optarg; break;
		case 'k': bad = parse_long(optarg, 1, 100000000, &v) < 0; c->keys = (unsigned)v; break;
		case 'r': bad = parse_long(optarg, 0, 100, &v) < 0; c->read_pct = (int)v; break;
		case 't': bad = parse_secs(optarg, &c->connect_timeout) < 0; break;
		case OPT_KEEP: c->keep = true; break;
		case OPT_PROBE: probe = true; break;
		case OPT_FSYNC: fsync_dir = optarg; break;
		case OPT_MNTR: c->mntr = true; break;
		case OPT_4LW: four = optarg; break;
		case OPT_SERVER_PID: bad = parse_pids(optarg, c) < 0; break;
		case OPT_SPREAD: c->spread = true; break;
		case OPT_MNTR_SERVER: c->mntr = true; c->mntr_server = optarg; break;
		case OPT_FAILOVER: failover = true; break;
		case OPT_KILL_PID:
			bad = parse_long(optarg, 1, INT_MAX, &v) < 0;
			c->kill_pid = (pid_t)v;
			break;
		case OPT_KILL_SERVER: c->kill_server = optarg; break;
		case 'v': c->verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, "zkbench: bad value for -%c: '%s'\n", opt < 256 ? opt : '-', optarg);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (fsync_dir)
		return fsync_test(fsync_dir, c->size, c->duration);
	if (four) {
		static char buf[65536];

		if (strlen(four) != 4 || four_letter(c->server, four, buf, sizeof(buf)) < 0) {
			fprintf(stderr, "zkbench: %s to %s failed\n", four, c->server);
			return 1;
		}
		fputs(buf, stdout);
		return 0;
	}

	/* A probe polls a server that may not listen yet: keep the refusals quiet. */
	if (c->verbose >= 2)
		zoo_set_debug_level(ZOO_LOG_LEVEL_INFO);
	else if (c->verbose)
		zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
	else
		zoo_set_debug_level(probe ? 0 : ZOO_LOG_LEVEL_ERROR);
	if (probe)
		c->sessions = 1;

	pthread_mutex_init(&bench.lock, NULL);
	pthread_cond_init(&bench.cond, NULL);
	bench.runid = (unsigned)getpid() ^ (unsigned)now_ns();
	bench.payload = xcalloc(1, (size_t)c->size + 1);
	memset(bench.payload, 'x', (size_t)c->size);
	bench.sess = xcalloc((size_t)c->sessions, sizeof(*bench.sess));
	/* Unmeasured setup and cleanup need not crawl along at window 1. */
	bench.slots = c->window > SETUP_WINDOW ? c->window : SETUP_WINDOW;
	for (int i = 0; i < c->sessions; i++) {
		struct session *s = &bench.sess[i];

		s->idx = i;
		s->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1) ^ bench.runid;
		pthread_mutex_init(&s->lock, NULL);
		s->slots = xcalloc((size_t)bench.slots, sizeof(*s->slots));
		for (int w = 0; w < bench.slots; w++)
			s->slots[w].s = s;
	}

	if (failover)
		return failover_test();

	int status = 1;
	if (connect_all() < 0)
		goto out;
	if (probe) {
		struct Stat st;
		int rc = zoo_exists(bench.sess[0].zh, "/", 0, &st);

		if (rc != ZOK)
			fprintf(stderr, "zkbench: exists /: %s\n", zerror(rc));
		status = rc == ZOK ? 0 : 1;
		goto out;
	}
	if (ensure_prefix(bench.sess[0].zh, c->prefix) < 0)
		goto out;

	bool keys = c->op != OP_CREATE;
	uint64_t errors = 0;
	if (keys && housekeeping(PHASE_POPULATE))
		goto out;
	errors += measure(PHASE_RUN, op_names[c->op]);
	if (!c->keep && !atomic_load(&bench.broken)) {
		if (c->op == OP_CREATE) {
			/* Time the deletes for --duration at most; then clear the rest fast. */
			errors += measure(PHASE_DELETE_CREATED, op_names[OP_DELETE]);
			if (!atomic_load(&bench.broken))
				errors += housekeeping(PHASE_DELETE_CREATED);
		} else
			errors += housekeeping(PHASE_DELETE_KEYS);
	}
	status = errors ? 1 : 0;
out:
	for (int i = 0; i < c->sessions; i++)
		if (bench.sess[i].zh)
			zookeeper_close(bench.sess[i].zh);
	for (int i = 0; i < c->sessions; i++)
		free(bench.sess[i].slots);
	free(bench.sess);
	free(bench.payload);
	return status;
}
