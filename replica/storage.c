/*
 * storage.c - where the tree meets the disk: recovery at start (newest valid
 * snapshot + replay of the log after it), snapshots every snapCount
 * transactions, and purging of old files (ZooKeeper's FileTxnSnapLog,
 * ZKDatabase.loadDataBase and DatadirCleanupManager).
 *
 * Snapshots are taken in a forked child (as Redis does BGSAVE): fork gives
 * the child an exact copy-on-write image of the tree at dt.last_zxid, so
 * the snapshot is consistent - not merely "fuzzy" - and the server keeps
 * serving while the child writes.  Because the tree only holds durable
 * transactions, a snapshot never contains anything the log could lose.
 *
 * Snapshot records (payload of snapfile records), first byte a tag:
 *   'S' session:  id long, timeout int, passwd buffer
 *   'N' znode:    path, data buffer, acl vector, czxid, mzxid, ctime,
 *                 mtime (long), version, cversion, aversion (int),
 *                 ephemeralOwner, pzxid (long)
 * Parents are written before their children.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "faultinject.h"
#include "log.h"
#include "server.h"
#include "snapfile.h"
#include "txn.h"
#include "txnlog.h"
#include "xalloc.h"

static int mkdirs(const char *path)
{
	char tmp[1200];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

void storage_snap_dir(const struct server *srv, char *out, size_t n)
{
	snprintf(out, n, "%s/version-2", srv->cfg->data_dir);
}

static void log_dir(const struct server *srv, char *out, size_t n)
{
	snprintf(out, n, "%s/version-2",
		 srv->cfg->data_log_dir[0] ? srv->cfg->data_log_dir : srv->cfg->data_dir);
}

/* ---- loading ---- */

static int load_record(void *arg, const void *rec, size_t len)
{
	struct server *srv = arg;
	struct jute_in in;
	if (len < 1)
		return -EBADMSG;
	jute_in_init(&in, (const char *)rec + 1, len - 1, &srv->arena);
	char tag = *(const char *)rec;
	int rc = 0;
	if (tag == 'S') {
		int64_t id = jute_get_long(&in);
		int32_t timeout = jute_get_int(&in);
		int32_t pwlen;
		const char *pw = jute_get_buffer(&in, &pwlen);
		if (!in.err)
			session_add(&srv->sessions, id, timeout, (const uint8_t *)pw, pwlen);
	} else if (tag == 'N') {
		int32_t dlen;
		char *path = jute_get_string(&in, NULL);
		const char *data = jute_get_buffer(&in, &dlen);
		struct acl_entry *e;
		int n = acl_decode(&in, &e);
		struct znode_stat st;
		st.czxid = jute_get_long(&in);
		st.mzxid = jute_get_long(&in);
		st.ctime = jute_get_long(&in);
		st.mtime = jute_get_long(&in);
		st.version = jute_get_int(&in);
		st.cversion = jute_get_int(&in);
		st.aversion = jute_get_int(&in);
		st.ephemeral_owner = jute_get_long(&in);
		st.pzxid = jute_get_long(&in);
		if (!in.err && path) {
			struct acl *acl = acl_intern(e, n);
			rc = datatree_load_node(&srv->dt, path, data, dlen, acl, &st) ? -EBADMSG : 0;
			acl_unref(acl);
		}
	} else {
		rc = -EBADMSG;
	}
	arena_reset(&srv->arena);
	return in.err ? -EBADMSG : rc;
}

static int replay_record(void *arg, uint64_t zxid, const void *rec, size_t len)
{
	struct server *srv = arg;
	/* A replica does not know which of its logged txns are committed. */
	if (srv->cl)
		return server_replayed_txn(srv, (int64_t)zxid, rec, len);
	int rc = txn_apply(&srv->dt, server_txn_hooks(srv), rec, len, NULL, &srv->arena);
	arena_reset(&srv->arena);
	if (rc)
		log_error("storage", "cannot apply logged transaction 0x%llx", (unsigned long long)zxid);
	return rc;
}

int storage_recover(struct server *srv)
{
	char sdir[1200], ldir[1200];
	char *path = NULL;
	uint64_t zxid = 0, last = 0;
	int rc;

	storage_snap_dir(srv, sdir, sizeof(sdir));
	log_dir(srv, ldir, sizeof(ldir));
	if ((rc = mkdirs(sdir)) || (rc = mkdirs(ldir))) {
		log_err(rc, "storage", "create data directories %s, %s", sdir, ldir);
		return rc;
	}
	rc = snapfile_latest(sdir, &zxid, &path);
	if (rc == 0) {
		rc = snapfile_read(path, load_record, srv);
		if (rc) {
			log_err(rc, "storage", "loading snapshot %s", path);
			free(path);
			return rc;
		}
		srv->dt.last_zxid = (int64_t)zxid;
		log_info("storage", "loaded snapshot %s: %zu znodes, %zu sessions", path,
			 srv->dt.count, srv->sessions.count);
		free(path);
	} else if (rc != -ENOENT) {
		log_err(rc, "storage", "no usable snapshot in %s; refusing to start empty", sdir);
		return rc;
	}
	if (srv->cl)
		history_init(&srv->cl->hist, srv->dt.last_zxid, (size_t)srv->cfg->commit_log_count,
			     (size_t)srv->cfg->commit_log_bytes);
	if ((rc = txnlog_open(&srv->log, ldir, srv->loop, faultinject_txnlog_ops()))) {
		log_err(rc, "storage", "open transaction log in %s", ldir);
		return rc;
	}
	rc = txnlog_replay(srv->log, zxid, replay_record, srv, &last);
	if (rc) {
		log_err(rc, "storage", "replaying the transaction log in %s", ldir);
		return rc;
	}
	if ((int64_t)last < srv->dt.last_zxid)
		last = (uint64_t)srv->dt.last_zxid;
	log_info("storage", "recovered to zxid 0x%llx: %zu znodes, %zu sessions",
		 (unsigned long long)srv->dt.last_zxid, srv->dt.count, srv->sessions.count);
	int half = srv->cfg->snap_count / 2 > 0 ? srv->cfg->snap_count / 2 : 1;
	srv->snap_threshold = half + (int64_t)(random() % half);
	return 0;
}

/* ---- writing snapshots (in the child) ---- */

struct snap_ctx {
	int (*emit)(void *arg, const void *rec, size_t len);
	void *arg;
	struct buf b;
	int rc;
};

static void snap_session(void *arg, struct session *s)
{
	struct snap_ctx *sc = arg;
	if (sc->rc)
		return;
	sc->b.len = 0;
	buf_put_u8(&sc->b, 'S');
	jute_put_long(&sc->b, s->id);
	jute_put_int(&sc->b, s->timeout);
	jute_put_buffer(&sc->b, s->passwd, SESSION_PASSWD_LEN);
	sc->rc = sc->emit(sc->arg, sc->b.data, sc->b.len);
}

static void snap_node(void *arg, struct znode *n)
{
	struct snap_ctx *sc = arg;
	if (sc->rc)
		return;
	sc->b.len = 0;
	buf_put_u8(&sc->b, 'N');
	jute_put_string(&sc->b, n->path);
	jute_put_buffer(&sc->b, n->data, n->datalen);
	acl_encode(&sc->b, n->acl);
	jute_put_long(&sc->b, n->st.czxid);
	jute_put_long(&sc->b, n->st.mzxid);
	jute_put_long(&sc->b, n->st.ctime);
	jute_put_long(&sc->b, n->st.mtime);
	jute_put_int(&sc->b, n->st.version);
	jute_put_int(&sc->b, n->st.cversion);
	jute_put_int(&sc->b, n->st.aversion);
	jute_put_long(&sc->b, n->st.ephemeral_owner);
	jute_put_long(&sc->b, n->st.pzxid);
	sc->rc = sc->emit(sc->arg, sc->b.data, sc->b.len);
}

int storage_serialize(struct server *srv, int (*emit)(void *arg, const void *rec, size_t len),
		      void *arg)
{
	struct snap_ctx sc = { emit, arg, BUF_INIT, 0 };
	sessions_foreach(&srv->sessions, snap_session, &sc);
	datatree_walk(&srv->dt, snap_node, &sc);
	buf_free(&sc.b);
	return sc.rc;
}

static int emit_to_file(void *arg, const void *rec, size_t len)
{
	return snapfile_write(arg, rec, len);
}

static int write_snapshot(struct server *srv, const char *dir)
{
	struct snapfile_writer *w;
	int rc = snapfile_create(&w, dir, (uint64_t)srv->dt.last_zxid);
	if (rc)
		return rc;
	if ((rc = storage_serialize(srv, emit_to_file, w))) {
		snapfile_abort(w);
		return rc;
	}
	return snapfile_commit(w);
}

/*
 * Purging reads the kept snapshots to validate them, so it runs on the
 * threadpool; it touches only files and the immutable configuration.
 */
struct purge_job {
	uv_work_t req;
	struct server *srv;
};

static void purge_work(uv_work_t *req)
{
	struct purge_job *job = container_of(req, struct purge_job, req);
	struct server *srv = job->srv;
	char sdir[1200], ldir[1200];
	uint64_t oldest = 0;
	storage_snap_dir(srv, sdir, sizeof(sdir));
	log_dir(srv, ldir, sizeof(ldir));
	int n = snapfile_purge(sdir, srv->cfg->autopurge_retain, &oldest);
	if (n < 0)
		return;
	int m = txnlog_purge(ldir, oldest);
	if (n > 0 || m > 0)
		log_info("storage", "purged %d snapshots and %d log files older than 0x%llx", n,
			 m > 0 ? m : 0, (unsigned long long)oldest);
}

static void purge_done(uv_work_t *req, int status)
{
	struct purge_job *job = container_of(req, struct purge_job, req);
	(void)status;
	job->srv->purging = false;
	free(job);
}

static void purge(struct server *srv)
{
	if (srv->purging)
		return;
	struct purge_job *job = xcalloc(1, sizeof(*job));
	job->srv = srv;
	srv->purging = true;
	if (uv_queue_work(srv->loop, &job->req, purge_work, purge_done)) {
		srv->purging = false;
		free(job);
	}
}

static void purge_timer_cb(uv_timer_t *h)
{
	purge(container_of(h, struct server, purge_timer));
}

void storage_start_purge(struct server *srv)
{
	uint64_t ms = (uint64_t)srv->cfg->autopurge_interval_hours * 3600 * 1000;
	if (!ms)
		return;
	uv_timer_init(srv->loop, &srv->purge_timer);
	uv_timer_start(&srv->purge_timer, purge_timer_cb, ms, ms);
}

static void sigchld_cb(uv_signal_t *h, int sig)
{
	struct server *srv = container_of(h, struct server, sigchld);
	int status;
	(void)sig;
	if (srv->snap_pid <= 0)
		return;
	pid_t pid = waitpid(srv->snap_pid, &status, WNOHANG);
	if (pid != srv->snap_pid)
		return;
	srv->snap_pid = 0;
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (!ok) {
		log_error("storage", "snapshot at zxid 0x%llx failed (child status %d); will retry",
			  (unsigned long long)srv->snap_zxid, status);
		/* retry after another quarter of snapCount, not on every commit (full disks) */
		srv->txns_since_snap = srv->snap_threshold * 3 / 4;
		return;
	}
	log_info("storage", "snapshot at zxid 0x%llx written", (unsigned long long)srv->snap_zxid);
	if (srv->cfg->autopurge_interval_hours > 0)
		purge(srv);
}

int storage_take_snapshot(struct server *srv)
{
	char sdir[1200];
	int rc;

	if (srv->snap_pid > 0)
		return -EBUSY;
	if (!uv_is_active((uv_handle_t *)&srv->sigchld)) {
		uv_signal_init(srv->loop, &srv->sigchld);
		uv_signal_start(&srv->sigchld, sigchld_cb, SIGCHLD);
	}
	/* New records go to a new log file, so files before it can be purged later. */
	if ((rc = txnlog_roll(srv->log)) < 0)
		log_warn_err(rc, "storage", "rolling the transaction log");
	storage_snap_dir(srv, sdir, sizeof(sdir));
	srv->snap_zxid = srv->dt.last_zxid;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		rc = -errno;
		log_err(rc, "storage", "fork for snapshot");
		return rc;
	}
	if (pid == 0) {
		signal(SIGCHLD, SIG_DFL);
		/*
		 * Drop every inherited descriptor: the listener, client sockets and
		 * the log directory's lock must die with the parent, or a restart
		 * after a crash during a snapshot finds them still held.  Closing
		 * our copy does not release the parent's flock while it lives.
		 */
		close_range(3, ~0U, 0);
		/*
		 * Die with the parent: a snapshot finished after a crash could land
		 * in a data directory a restarted server (or an operator) already
		 * works on.
		 */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(1);
		rc = write_snapshot(srv, sdir);
		if (rc)
			log_err(rc, "storage", "writing snapshot in %s", sdir);
		_exit(rc ? 1 : 0);
	}
	srv->snap_pid = pid;
	srv->txns_since_snap = 0;
	int half = srv->cfg->snap_count / 2 > 0 ? srv->cfg->snap_count / 2 : 1;
	srv->snap_threshold = half + (int64_t)(random() % half);
	return 0;
}

void storage_maybe_snapshot(struct server *srv)
{
	if (srv->txns_since_snap < srv->snap_threshold || srv->snap_pid > 0)
		return;
	storage_take_snapshot(srv);
}
