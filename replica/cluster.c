/*
 * cluster.c - a replica's role in its ensemble (see cluster.h): start-up,
 * the persisted epochs, and the transitions between LOOKING, FOLLOWING and
 * LEADING that election.c, zab_leader.c and zab_follower.c ask for.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "log.h"
#include "server.h"
#include "txnlog.h"

int64_t cluster_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const struct config_server *cluster_server(const struct cluster *cl, int sid)
{
	for (int i = 0; i < cl->cfg->nservers; i++)
		if (cl->cfg->servers[i].id == sid)
			return &cl->cfg->servers[i];
	return NULL;
}

/* ---- epochs: dataDir/acceptedEpoch and dataDir/currentEpoch ---- */

static int read_epoch(const struct cluster *cl, const char *name, int64_t *out)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/%s", cl->cfg->data_dir, name);
	FILE *f = fopen(path, "r");
	*out = 0;
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	long long v;
	int ok = fscanf(f, "%lld", &v) == 1 && v >= 0;
	fclose(f);
	if (!ok) {
		log_error("cluster", "%s: not an epoch number", path);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Atomically: write a temporary file, fsync it, rename, fsync the directory. */
int cluster_write_epoch(struct cluster *cl, const char *name, int64_t epoch)
{
	char path[1200], tmp[1300];
	snprintf(path, sizeof(path), "%s/%s", cl->cfg->data_dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	char b[32];
	int n = snprintf(b, sizeof(b), "%lld\n", (long long)epoch);
	if (write(fd, b, (size_t)n) != n || fsync(fd)) {
		close(fd);
		goto fail;
	}
	close(fd);
	if (rename(tmp, path))
		goto fail;
	fd = open(cl->cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
fail:
	log_err(-errno, "cluster", "cannot write %s", path);
	return -errno;
}

int64_t cluster_last_logged(const struct cluster *cl)
{
	int64_t a = history_last(&cl->hist);
	int64_t b = (int64_t)txnlog_last_zxid(cl->srv->log);
	int64_t c = cl->srv->dt.last_zxid;
	if (b > a)
		a = b;
	return c > a ? c : a;
}

int cluster_init(struct cluster *cl, struct server *srv)
{
	int rc;
	cl->srv = srv;
	cl->cfg = srv->cfg;
	cl->loop = srv->loop;
	cl->myid = srv->cfg->myid;
	cl->nvoters = srv->cfg->nservers;
	cl->quorum = cl->nvoters / 2 + 1;
	cl->role = ROLE_LOOKING;
	if (!cluster_server(cl, cl->myid)) {
		log_error("cluster", "myid %d (from %s/myid) has no server.%d line in %s", cl->myid,
			  srv->cfg->data_dir, cl->myid, srv->cfg->path);
		return -EINVAL;
	}
	if ((rc = read_epoch(cl, "acceptedEpoch", &cl->accepted_epoch)) < 0 ||
	    (rc = read_epoch(cl, "currentEpoch", &cl->current_epoch)) < 0)
		return rc;
	if (cl->current_epoch > cl->accepted_epoch) {
		log_error("cluster", "currentEpoch %lld > acceptedEpoch %lld: damaged data directory",
			  (long long)cl->current_epoch, (long long)cl->accepted_epoch);
		return -EINVAL;
	}
	uv_timer_init(cl->loop, &cl->etimer);
	uv_timer_init(cl->loop, &cl->ltimer);
	uv_timer_init(cl->loop, &cl->ftimer);
	cl->etimer.data = cl->ltimer.data = cl->ftimer.data = cl;
	return 0;
}

int cluster_start(struct cluster *cl)
{
	int rc;
	/*
	 * The last zxid may be of a newer epoch than currentEpoch: a sync's
	 * proposals and snapshots are stored before NEWLEADER makes the epoch
	 * ours.  Elections compare currentEpoch first, so such a replica counts
	 * as older, which is the safe side.
	 */
	int64_t last = cluster_last_logged(cl);
	if ((rc = election_init(cl)) < 0 || (rc = leader_listen(cl)) < 0)
		return rc;
	log_info("cluster", "server %d of %d, acceptedEpoch %lld currentEpoch %lld, last zxid 0x%llx",
		 cl->myid, cl->nvoters, (long long)cl->accepted_epoch, (long long)cl->current_epoch,
		 (unsigned long long)last);
	cl->looking_since = cluster_now();
	election_start(cl);
	return 0;
}

void cluster_stop(struct cluster *cl)
{
	leader_stop(cl);
	follower_stop(cl);
	election_stop(cl);
	uv_timer_stop(&cl->etimer);
	uv_timer_stop(&cl->ltimer);
	uv_timer_stop(&cl->ftimer);
}

/*
 * Back to LOOKING: stop serving, keep the logged txns queued as uncommitted
 * (the next leader's sync decides their fate) and elect.
 */
void cluster_look(struct cluster *cl, const char *why)
{
	struct server *srv = cl->srv;
	if (srv->stopping)
		return;
	log_info("cluster", "server %d: %s -> LOOKING: %s", cl->myid, cluster_mode(cl), why);
	leader_stop(cl);
	follower_stop(cl);
	cl->serving = false;
	cl->role = ROLE_LOOKING;
	server_unserve(srv, (int64_t)txnlog_last_zxid(srv->log));
	history_truncate_after(&cl->hist, (int64_t)txnlog_last_zxid(srv->log));
	cl->looking_since = cluster_now();
	election_start(cl);
}

const char *cluster_mode(const struct cluster *cl)
{
	switch (cl->role) {
	case ROLE_LEADING:
		return "leader";
	case ROLE_FOLLOWING:
		return "follower";
	default:
		return "looking";
	}
}

void cluster_on_append(struct cluster *cl, int64_t zxid, const void *txn, size_t len, int origin)
{
	history_push(&cl->hist, zxid, txn, len);
	if (cl->role == ROLE_LEADING)
		leader_on_append(cl, zxid, txn, len, origin);
}

void cluster_on_durable(struct cluster *cl, int64_t durable)
{
	(void)durable;
	if (cl->role == ROLE_LEADING)
		leader_on_durable(cl);
	else if (cl->role == ROLE_FOLLOWING)
		follower_on_durable(cl);
}

void cluster_log_failed(struct cluster *cl)
{
	cluster_look(cl, "the transaction log failed");
}
