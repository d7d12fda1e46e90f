/*
 * fourlw.c - ZooKeeper's four-letter words on the client port: a new
 * connection whose first four bytes spell a known command gets a plain text
 * answer and is closed.  Only commands listed in 4lw.commands.whitelist run
 * (default "srvr"; "*" allows all), with ZooKeeper's refusal text otherwise.
 *
 * Output formats copy ZooKeeper 3.8 so that tools that scrape them (kazoo's
 * server_version(), monitoring scripts reading mntr) keep working.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "cluster.h"
#include "server.h"
#include "xalloc.h"

#define ZK_COMPAT_VERSION "3.8.0"
#define VERSION_LINE ZK_COMPAT_VERSION "-coordfs-" PACKAGE_VERSION ", built on " __DATE__

static const char *const commands[] = {
	"ruok", "srvr", "stat", "mntr", "conf", "cons", "crst", "srst", "envi",
	"wchs", "wchc", "wchp", "dump", "isro", "dirs", "gtmk", "stmk", NULL,
};

bool fourlw_is_command(const void *p, size_t n)
{
	if (n < 4)
		return false;
	for (int i = 0; commands[i]; i++)
		if (!memcmp(p, commands[i], 4))
			return true;
	return false;
}

static const char *mode(const struct server *srv)
{
	return srv->cl ? cluster_mode(srv->cl) : "standalone";
}

static const char *op_abbrev(int32_t op)
{
	switch (op) {
	case ZOP_CREATE: case ZOP_CREATE2: case ZOP_CREATECONTAINER: case ZOP_CREATETTL: return "CREA";
	case ZOP_DELETE: return "DELE";
	case ZOP_EXISTS: return "EXIS";
	case ZOP_GETDATA: return "GETD";
	case ZOP_SETDATA: return "SETD";
	case ZOP_GETACL: return "GETA";
	case ZOP_SETACL: return "SETA";
	case ZOP_GETCHILDREN: return "GETC";
	case ZOP_GETCHILDREN2: return "GETC";
	case ZOP_SYNC: return "SYNC";
	case ZOP_PING: return "PING";
	case ZOP_MULTI: return "MULT";
	case ZOP_MULTIREAD: return "MLTR";
	case ZOP_CLOSESESSION: return "CLOS";
	case ZOP_CHECK: return "CHEC";
	default: return "NA";
	}
}

/* ZooKeeper's node table holds the root twice ("" and "/"), and counts it so. */
static size_t node_count(const struct server *srv)
{
	return srv->dt.count + 1;
}

static void put_conn(struct buf *b, const struct conn *c, bool full)
{
	buf_printf(b, " /%s[%d](queued=%d,recved=%" PRIu64 ",sent=%" PRIu64, c->s.peer,
		   c->state == CONN_ACTIVE ? 1 : 0, c->pending, c->packets_in, c->packets_out);
	if (full && c->state == CONN_ACTIVE) {
		int64_t avg = c->lat_count ? c->lat_sum / c->lat_count : 0;
		buf_printf(b, ",sid=0x%" PRIx64 ",lop=%s,est=%" PRId64 ",to=%d,lcxid=0x%x,lzxid=0x%" PRIx64
			   ",lresp=%" PRId64 ",llat=%" PRId64 ",minlat=%" PRId64 ",avglat=%" PRId64
			   ",maxlat=%" PRId64,
			   (uint64_t)c->sid, op_abbrev(c->last_op), c->established, c->timeout,
			   (unsigned)c->last_cxid, (uint64_t)c->last_zxid, c->established,
			   c->last_latency, c->lat_min, avg, c->lat_max);
	}
	buf_printf(b, ")\n");
}

static void put_server_stats(struct buf *b, struct server *srv)
{
	struct server_stats *st = &srv->stats;
	int64_t min = st->lat_count ? st->lat_min : 0;
	double avg = st->lat_count ? (double)st->lat_sum / (double)st->lat_count : 0.0;
	buf_printf(b, "Latency min/avg/max: %" PRId64 "/%.4f/%" PRId64 "\n", min, avg, st->lat_max);
	buf_printf(b, "Received: %" PRIu64 "\n", st->packets_received);
	buf_printf(b, "Sent: %" PRIu64 "\n", st->packets_sent);
	buf_printf(b, "Connections: %zu\n", srv->nconns);
	buf_printf(b, "Outstanding: %zu\n", srv->npending);
	buf_printf(b, "Zxid: 0x%" PRIx64 "\n", (uint64_t)srv->dt.last_zxid);
	buf_printf(b, "Mode: %s\n", mode(srv));
	buf_printf(b, "Node count: %zu\n", node_count(srv));
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2;
}

static void mntr(struct buf *b, struct server *srv)
{
	struct server_stats *st = &srv->stats;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	buf_printf(b, "zk_version\t%s\n", VERSION_LINE);
	buf_printf(b, "zk_server_state\t%s\n", mode(srv));
	if (srv->cl && srv->cl->role == ROLE_LEADING) {
		buf_printf(b, "zk_learners\t%d\n", leader_learners(srv->cl, false));
		buf_printf(b, "zk_synced_followers\t%d\n", leader_learners(srv->cl, true));
	}
	if (srv->cl) {
		buf_printf(b, "zk_peer_state\t%s - %s\n",
			   srv->cl->role == ROLE_LEADING ? "leading" :
			   srv->cl->role == ROLE_FOLLOWING ? "following" : "looking",
			   srv->cl->serving ? "broadcast" : "synchronization");
		buf_printf(b, "zk_election_time\t%lld\n", (long long)srv->cl->election_ms);
		buf_printf(b, "zk_elections\t%llu\n", (unsigned long long)srv->cl->elections);
	}
	buf_printf(b, "zk_avg_latency\t%.4f\n",
		   st->lat_count ? (double)st->lat_sum / (double)st->lat_count : 0.0);
	buf_printf(b, "zk_max_latency\t%" PRId64 "\n", st->lat_max);
	buf_printf(b, "zk_min_latency\t%" PRId64 "\n", st->lat_count ? st->lat_min : 0);
	buf_printf(b, "zk_packets_received\t%" PRIu64 "\n", st->packets_received);
	buf_printf(b, "zk_packets_sent\t%" PRIu64 "\n", st->packets_sent);
	buf_printf(b, "zk_num_alive_connections\t%zu\n", srv->nconns);
	buf_printf(b, "zk_outstanding_requests\t%zu\n", srv->npending);
	buf_printf(b, "zk_znode_count\t%zu\n", node_count(srv));
	buf_printf(b, "zk_watch_count\t%zu\n", watch_total(&srv->watches));
	buf_printf(b, "zk_ephemerals_count\t%zu\n", datatree_ephemeral_count(&srv->dt));
	buf_printf(b, "zk_approximate_data_size\t%" PRIu64 "\n", srv->dt.data_bytes);
	buf_printf(b, "zk_open_file_descriptor_count\t%d\n", open_fds());
	buf_printf(b, "zk_max_file_descriptor_count\t%llu\n", (unsigned long long)rl.rlim_cur);
	buf_printf(b, "zk_uptime\t%" PRId64 "\n", server_now_ms() - st->started);
	buf_printf(b, "zk_last_proposal_size\t-1\n");
	buf_printf(b, "zk_fsync_count\t%" PRIu64 "\n", st->fsyncs);
	buf_printf(b, "zk_txn_count\t%" PRIu64 "\n", st->txns);
	buf_printf(b, "zk_log_error_count\t%" PRIu64 "\n", st->log_errors);
	buf_printf(b, "zk_global_sessions\t%zu\n", srv->sessions.count);
	buf_printf(b, "zk_local_sessions\t0\n");
}

/* Bytes in the files of dir/version-2, as ZooKeeper's dirs and conf report. */
static uint64_t dir_bytes(const char *dir)
{
	char path[1200];
	uint64_t total = 0;
	snprintf(path, sizeof(path), "%s/version-2", dir);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

static const char *log_dir_of(const struct config *c)
{
	return c->data_log_dir[0] ? c->data_log_dir : c->data_dir;
}

static void conf(struct buf *b, struct server *srv)
{
	const struct config *c = srv->cfg;
	buf_printf(b, "clientPort=%d\n", c->client_port);
	buf_printf(b, "clientPortAddress=%s\n", c->client_addr);
	buf_printf(b, "dataDir=%s/version-2\n", c->data_dir);
	buf_printf(b, "dataDirSize=%" PRIu64 "\n", dir_bytes(c->data_dir));
	buf_printf(b, "dataLogDir=%s/version-2\n", log_dir_of(c));
	buf_printf(b, "dataLogSize=%" PRIu64 "\n", dir_bytes(log_dir_of(c)));
	buf_printf(b, "tickTime=%d\n", c->tick_time);
	buf_printf(b, "maxClientCnxns=%d\n", c->max_client_cnxns);
	buf_printf(b, "minSessionTimeout=%d\n", c->min_session_timeout > 0 ? c->min_session_timeout : 2 * c->tick_time);
	buf_printf(b, "maxSessionTimeout=%d\n", c->max_session_timeout > 0 ? c->max_session_timeout : 20 * c->tick_time);
	buf_printf(b, "clientPortListenBacklog=-1\n");
	buf_printf(b, "serverId=%d\n", c->myid);
	if (!srv->cl)
		return;
	/* ZooKeeper 3.8's quorum part of conf */
	buf_printf(b, "initLimit=%d\n", c->init_limit);
	buf_printf(b, "syncLimit=%d\n", c->sync_limit);
	buf_printf(b, "electionAlg=3\n");
	buf_printf(b, "peerType=0\n");
	buf_printf(b, "membership: \n");
	for (int i = 0; i < c->nservers; i++)
		buf_printf(b, "server.%d=%s:%d:%d:participant\n", c->servers[i].id, c->servers[i].host,
			   c->servers[i].quorum_port, c->servers[i].election_port);
	buf_printf(b, "acceptedEpoch=%lld\ncurrentEpoch=%lld\n", (long long)srv->cl->accepted_epoch,
		   (long long)srv->cl->current_epoch);
}

static void envi(struct buf *b)
{
	char host[256] = "";
	char cwd[1024] = "";
	gethostname(host, sizeof(host) - 1);
	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = 0;
	buf_printf(b, "Environment:\n");
	buf_printf(b, "zookeeper.version=%s\n", VERSION_LINE);
	buf_printf(b, "host.name=%s\n", host);
	buf_printf(b, "java.version=none (coordd is written in C)\n");
	buf_printf(b, "os.name=Linux\n");
	buf_printf(b, "user.dir=%s\n", cwd);
	buf_printf(b, "coordd.version=%s\n", PACKAGE_VERSION);
}

struct dump_ctx {
	struct buf *b;
	struct server *srv;
};

static void dump_session(void *arg, struct session *s)
{
	struct dump_ctx *d = arg;
	buf_printf(d->b, "0x%" PRIx64 "\t%dms\n", (uint64_t)s->id, s->timeout);
}

static void dump_eph(void *arg, struct znode *n)
{
	struct dump_ctx *d = arg;
	buf_printf(d->b, "\t%s\n", n->path);
}

static void dump_owner(void *arg, struct session *s)
{
	struct dump_ctx *d = arg;
	size_t mark = d->b->len;
	buf_printf(d->b, "0x%" PRIx64 ":\n", (uint64_t)s->id);
	size_t body = d->b->len;
	datatree_ephemerals(&d->srv->dt, s->id, dump_eph, d);
	if (d->b->len == body)
		d->b->len = mark;
}

static void wchc_line(void *arg, const char *path, struct watch_owner *o)
{
	struct buf *b = arg;
	struct conn *c = container_of(o, struct conn, wo);
	buf_printf(b, "0x%" PRIx64 "\n\t%s\n", (uint64_t)c->sid, path);
}

static void wchp_line(void *arg, const char *path, struct watch_owner *o)
{
	struct buf *b = arg;
	struct conn *c = container_of(o, struct conn, wo);
	buf_printf(b, "%s\n\t0x%" PRIx64 "\n", path, (uint64_t)c->sid);
}

void fourlw_handle(struct conn *c, const char *cmd)
{
	struct server *srv = c->srv;
	struct buf b = BUF_INIT;

	c->packets_in = 1; /* the command itself, as ZooKeeper counts it */
	if (!config_4lw_allowed(srv->cfg, cmd)) {
		buf_printf(&b, "%s is not executed because it is not in the whitelist.\n", cmd);
	} else if (!server_serving(srv) && strcmp(cmd, "ruok") && strcmp(cmd, "conf") &&
		   strcmp(cmd, "envi") && strcmp(cmd, "isro")) {
		/* ZooKeeper answers this while it has no quorum */
		buf_printf(&b, "This ZooKeeper instance is not currently serving requests\n");
	} else if (!strcmp(cmd, "ruok")) {
		buf_printf(&b, "imok");
	} else if (!strcmp(cmd, "srvr")) {
		buf_printf(&b, "Zookeeper version: %s\n", VERSION_LINE);
		put_server_stats(&b, srv);
	} else if (!strcmp(cmd, "stat")) {
		buf_printf(&b, "Zookeeper version: %s\n", VERSION_LINE);
		buf_printf(&b, "Clients:\n");
		for (struct conn *o = srv->conns; o; o = o->next)
			put_conn(&b, o, false);
		buf_printf(&b, "\n");
		put_server_stats(&b, srv);
	} else if (!strcmp(cmd, "cons")) {
		for (struct conn *o = srv->conns; o; o = o->next)
			put_conn(&b, o, true);
		buf_printf(&b, "\n");
	} else if (!strcmp(cmd, "mntr")) {
		mntr(&b, srv);
	} else if (!strcmp(cmd, "conf")) {
		conf(&b, srv);
	} else if (!strcmp(cmd, "envi")) {
		envi(&b);
	} else if (!strcmp(cmd, "wchs")) {
		/* ZooKeeper 3.8's wchs, wchc and wchp cover data and exists watches only. */
		size_t owners, paths, total;
		watch_summary(&srv->watches, WT_DATA, &owners, &paths, &total);
		buf_printf(&b, "%zu connections watching %zu paths\nTotal watches:%zu\n",
			   owners, paths, total);
	} else if (!strcmp(cmd, "wchc")) {
		watch_foreach(&srv->watches, WT_DATA, wchc_line, &b);
	} else if (!strcmp(cmd, "wchp")) {
		watch_foreach(&srv->watches, WT_DATA, wchp_line, &b);
	} else if (!strcmp(cmd, "dump")) {
		struct dump_ctx d = { &b, srv };
		buf_printf(&b, "SessionTracker dump:\nGlobal Sessions(%zu):\n", srv->sessions.count);
		sessions_foreach(&srv->sessions, dump_session, &d);
		buf_printf(&b, "ephemeral nodes dump:\nSessions with Ephemerals (%zu):\n",
			   srv->sessions.count);
		sessions_foreach(&srv->sessions, dump_owner, &d);
		buf_printf(&b, "Connections dump:\nConnections Sets (0)/(0):\n");
	} else if (!strcmp(cmd, "isro")) {
		buf_printf(&b, "rw");
	} else if (!strcmp(cmd, "crst")) {
		for (struct conn *o = srv->conns; o; o = o->next) {
			o->packets_in = o->packets_out = 0;
			o->lat_min = o->lat_max = o->lat_sum = o->lat_count = 0;
		}
		buf_printf(&b, "Connection stats reset.\n");
	} else if (!strcmp(cmd, "srst")) {
		srv->stats.packets_received = srv->stats.packets_sent = 0;
		srv->stats.lat_min = INT64_MAX;
		srv->stats.lat_max = srv->stats.lat_sum = srv->stats.lat_count = 0;
		buf_printf(&b, "Server stats reset.\n");
	} else if (!strcmp(cmd, "dirs")) {
		buf_printf(&b, "datadir_size: %" PRIu64 "\nlogdir_size: %" PRIu64 "\n",
			   dir_bytes(srv->cfg->data_dir), dir_bytes(log_dir_of(srv->cfg)));
	} else {
		buf_printf(&b, "%s is not supported by coordd.\n", cmd);
	}
	stream_write(&c->s, b.data, b.len);
	buf_free(&b);
	conn_close_after_flush(c);
}
