/*
 * zab_follower.c - the follower's side of Zab (ZooKeeper's Follower and
 * Learner.syncWithLeader), and the forwarding of its clients' requests.
 *
 * We connect to the leader's quorum port once our log has nothing in
 * flight, send FOLLOWERINFO, promise its epoch (acceptedEpoch, on disk
 * before ACKEPOCH), then take the sync stream: TRUNC cuts our log, SNAP
 * replaces our state (written as a snapshot file, then the process restarts
 * to load it exactly as after a crash), PROPOSALs are logged and queued
 * like any txn.  NEWLEADER is acknowledged only once everything received is
 * durable, and currentEpoch is written between the two (cluster.h (2)).
 * UPTODATE opens us to clients.
 *
 * Broadcast: PROPOSALs are logged and queued, ACKed (cumulatively) when
 * fsync'd; COMMITs release the queue.  Our clients' writes, session
 * creations and closes and syncs are sent as REQUESTs; their outcome comes
 * back in the same order - as the PROPOSAL of their txn (origin = us) or a
 * RESULT - so the oldest forwarded request is always the one answered.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cluster.h"
#include "log.h"
#include "peerlink.h"
#include "server.h"
#include "snapfile.h"
#include "txn.h"
#include "txnlog.h"
#include "xalloc.h"

#define DIAL_TIMEOUT_MS 1000
#define REDIAL_MS 100

static int64_t limit_ms(const struct cluster *cl, int ticks)
{
	return (int64_t)ticks * cl->cfg->tick_time;
}

static void send_long(struct cluster *cl, int type, int64_t v)
{
	size_t off = peerlink_begin(cl->ql, type);
	jute_put_long(peerlink_out(cl->ql), v);
	peerlink_end(cl->ql, off);
}

static void maybe_send_info(struct cluster *cl)
{
	struct server *srv = cl->srv;
	if (cl->info_sent || !cl->ql || !cl->ql->up)
		return;
	/* a TRUNC must find no write in flight */
	if (txnlog_durable_zxid(srv->log) != txnlog_last_zxid(srv->log))
		return;
	size_t off = peerlink_begin(cl->ql, MSG_FOLLOWERINFO);
	struct buf *b = peerlink_out(cl->ql);
	jute_put_int(b, cl->myid);
	jute_put_long(b, cl->accepted_epoch);
	jute_put_long(b, cluster_last_logged(cl));
	peerlink_end(cl->ql, off);
	cl->info_sent = true;
}

static void maybe_ack_newleader(struct cluster *cl)
{
	struct server *srv = cl->srv;
	/* the sync's txns (up to nl_zxid) durable; later proposals may be in flight */
	if (!cl->nl_pending || srv->durable_zxid < cl->nl_zxid)
		return;
	/* everything of the sync is durable: only now may the epoch be ours */
	if (cl->nl_epoch != cl->current_epoch) {
		if (cluster_write_epoch(cl, "currentEpoch", cl->nl_epoch) < 0) {
			cluster_look(cl, "cannot write currentEpoch");
			return;
		}
		cl->current_epoch = cl->nl_epoch;
	}
	cl->nl_pending = false;
	cl->nl_acked = true;
	cl->acked = cl->nl_zxid;
	send_long(cl, MSG_ACKNL, cl->nl_zxid);
}

static struct pending *pop_fwd(struct cluster *cl)
{
	struct pending *p = cl->fwd_head;
	if (p) {
		cl->fwd_head = p->next;
		if (!cl->fwd_head)
			cl->fwd_tail = NULL;
		p->next = NULL;
	}
	return p;
}

static void protocol_error(struct cluster *cl, const char *what)
{
	log_warn("follower", "leader %d: %s", cl->leader_id, what);
	cluster_look(cl, what);
}

static void on_proposal(struct cluster *cl, struct jute_in *in)
{
	struct server *srv = cl->srv;
	int64_t zxid = jute_get_long(in);
	int origin = jute_get_int(in);
	int32_t len;
	const char *txn = jute_get_buffer(in, &len);
	if (in->err || len <= 0 || zxid <= cluster_last_logged(cl)) {
		protocol_error(cl, "bad PROPOSAL");
		return;
	}
	struct pending *p = NULL;
	if (origin == cl->myid) {
		struct txn_header h;
		struct jute_in hin;
		jute_in_init(&hin, txn, (size_t)len, in->arena);
		p = pop_fwd(cl);
		if (!p || txn_get_header(&hin, &h) || (p->conn && h.client_id != p->conn->sid) ||
		    h.cxid != p->xid) {
			if (p)
				server_pending_free(srv, p);
			protocol_error(cl, "PROPOSAL does not answer our oldest request");
			return;
		}
	}
	if (server_follower_txn(srv, p, zxid, txn, (size_t)len) < 0)
		cluster_look(cl, "cannot log a proposal");
}

static void on_result(struct cluster *cl, struct jute_in *in)
{
	int64_t sid = jute_get_long(in);
	int32_t cxid = jute_get_int(in);
	int32_t type = jute_get_int(in);
	int32_t err = jute_get_int(in);
	int64_t after = jute_get_long(in);
	int32_t n = jute_get_count(in, 4);
	struct pending *p = pop_fwd(cl);
	if (in->err || !p || p->xid != cxid || p->type != type ||
	    (p->conn && p->conn->sid != sid)) {
		if (p)
			server_pending_free(cl->srv, p);
		protocol_error(cl, "RESULT does not answer our oldest request");
		return;
	}
	p->err = err;
	if (n > 0) {
		p->merr.n = n;
		p->merr.errs = xcalloc((size_t)n, sizeof(int32_t));
		for (int32_t i = 0; i < n; i++)
			p->merr.errs[i] = jute_get_int(in);
	}
	server_follower_result(cl->srv, p, after);
}

static void on_trunc(struct cluster *cl, int64_t z)
{
	struct server *srv = cl->srv;
	if (z < srv->dt.last_zxid) {
		/* committed state is never cut: this leader's history is wrong */
		log_error("follower", "leader %d asks to truncate to 0x%llx below our committed 0x%llx",
			  cl->leader_id, (unsigned long long)z, (unsigned long long)srv->dt.last_zxid);
		cluster_look(cl, "refused a TRUNC below committed state");
		return;
	}
	log_info("follower", "truncating the log after 0x%llx (leader %d)", (unsigned long long)z,
		 cl->leader_id);
	server_unserve(srv, z);
	history_truncate_after(&cl->hist, z);
	int rc = txnlog_truncate_after(srv->log, (uint64_t)z);
	if (rc < 0) {
		log_err(rc, "follower", "truncating the log");
		cluster_look(cl, "cannot truncate the log");
		return;
	}
	if (srv->durable_zxid > z)
		srv->durable_zxid = z;
}

static void on_snap(struct cluster *cl, int64_t z)
{
	char dir[1200];
	storage_snap_dir(cl->srv, dir, sizeof(dir));
	snapfile_abort(cl->snapw);
	cl->snapw = NULL;
	int rc = snapfile_create(&cl->snapw, dir, (uint64_t)z);
	if (rc < 0) {
		log_err(rc, "follower", "cannot create a snapshot in %s", dir);
		cluster_look(cl, "cannot store the leader's snapshot");
		return;
	}
	cl->snap_zxid = z;
	log_info("follower", "receiving a snapshot at 0x%llx from leader %d", (unsigned long long)z,
		 cl->leader_id);
}

static void on_snapend(struct cluster *cl)
{
	struct server *srv = cl->srv;
	int rc = snapfile_commit(cl->snapw);
	cl->snapw = NULL;
	if (rc < 0) {
		log_err(rc, "follower", "cannot store the leader's snapshot");
		cluster_look(cl, "cannot store the leader's snapshot");
		return;
	}
	/*
	 * Loading it in place would mean replacing every structure the tree
	 * feeds; restarting loads it through the recovery path that crash
	 * tests exercise, and we then rejoin with a DIFF from it.
	 */
	log_info("follower", "stored the snapshot at 0x%llx; restarting to load it",
		 (unsigned long long)cl->snap_zxid);
	srv->reexec = true;
	server_stop(srv);
	uv_stop(cl->loop);
}

static void on_ping(struct cluster *cl, int64_t round)
{
	struct server *srv = cl->srv;
	size_t off = peerlink_begin(cl->ql, MSG_PINGREPLY);
	struct buf *b = peerlink_out(cl->ql);
	jute_put_long(b, round); /* proves to the leader we still follow it */
	size_t cnt = b->len;
	int32_t n = 0;
	jute_put_int(b, 0);
	for (size_t i = 0; i < srv->sessions.nb; i++)
		for (struct session *s = srv->sessions.b[i]; s; s = s->hnext)
			if (s->touched) {
				s->touched = false;
				jute_put_long(b, s->id);
				n++;
			}
	buf_patch_be32(b, cnt, (uint32_t)n);
	peerlink_end(cl->ql, off);
}

static void on_msg(struct peer_link *l, int type, struct jute_in *in)
{
	struct cluster *cl = l->owner;
	if (!cl || cl->ql != l)
		return;
	struct server *srv = cl->srv;
	cl->last_heard = cluster_now();
	switch (type) {
	case MSG_LEADERINFO: {
		int64_t e = jute_get_long(in);
		cl->got_leaderinfo = true;
		if (in->err || e < cl->accepted_epoch) {
			protocol_error(cl, "LEADERINFO with an epoch older than we accepted");
			return;
		}
		if (e > cl->accepted_epoch) {
			if (cluster_write_epoch(cl, "acceptedEpoch", e) < 0) {
				cluster_look(cl, "cannot write acceptedEpoch");
				return;
			}
			cl->accepted_epoch = e;
		}
		size_t off = peerlink_begin(l, MSG_ACKEPOCH);
		jute_put_long(peerlink_out(l), cl->current_epoch);
		jute_put_long(peerlink_out(l), cluster_last_logged(cl));
		peerlink_end(l, off);
		break;
	}
	case MSG_DIFF:
		jute_get_long(in);
		break;
	case MSG_TRUNCATE: {
		int64_t z = jute_get_long(in);
		if (!in->err)
			on_trunc(cl, z);
		break;
	}
	case MSG_SNAP: {
		int64_t z = jute_get_long(in);
		if (!in->err)
			on_snap(cl, z);
		break;
	}
	case MSG_SNAPREC:
		if (!cl->snapw) {
			protocol_error(cl, "snapshot record outside a snapshot");
			return;
		}
		if (snapfile_write(cl->snapw, in->p + in->off, in->len - in->off) < 0) {
			snapfile_abort(cl->snapw);
			cl->snapw = NULL;
			cluster_look(cl, "cannot store the leader's snapshot");
		}
		break;
	case MSG_SNAPEND:
		if (!cl->snapw) {
			protocol_error(cl, "SNAPEND outside a snapshot");
			return;
		}
		on_snapend(cl);
		break;
	case MSG_PROPOSAL:
		on_proposal(cl, in);
		break;
	case MSG_COMMIT: {
		int64_t z = jute_get_long(in);
		if (!in->err)
			server_commit(srv, z);
		break;
	}
	case MSG_NEWLEADER: {
		int64_t e = jute_get_long(in);
		int64_t z = jute_get_long(in);
		if (in->err || e != cl->accepted_epoch || z != cluster_last_logged(cl)) {
			protocol_error(cl, "bad NEWLEADER");
			return;
		}
		cl->nl_pending = true;
		cl->nl_epoch = e;
		cl->nl_zxid = z;
		maybe_ack_newleader(cl);
		break;
	}
	case MSG_UPTODATE: {
		int64_t z = jute_get_long(in);
		if (in->err || !cl->nl_acked) {
			protocol_error(cl, "UPTODATE before NEWLEADER");
			return;
		}
		/* as the leader does: nothing of this epoch precedes epoch << 32 */
		if (srv->durable_zxid < cl->current_epoch << 32)
			srv->durable_zxid = cl->current_epoch << 32;
		server_commit(srv, z);
		if (!cl->serving) {
			cl->serving = true;
			log_info("follower", "server %d follows server %d in epoch %lld from zxid 0x%llx, %lld ms after looking",
				 cl->myid, cl->leader_id, (long long)cl->current_epoch,
				 (unsigned long long)srv->dt.last_zxid,
				 (long long)(cluster_now() - cl->looking_since));
		}
		break;
	}
	case MSG_RESULT:
		on_result(cl, in);
		break;
	case MSG_PING: {
		int64_t round = jute_get_long(in);
		if (!in->err)
			on_ping(cl, round);
		break;
	}
	default:
		protocol_error(cl, "unexpected message");
		break;
	}
}

static void dial(struct cluster *cl);

static void on_up(struct peer_link *l)
{
	struct cluster *cl = l->owner;
	cl->last_heard = cluster_now();
	maybe_send_info(cl);
}

static void on_down(struct peer_link *l)
{
	struct cluster *cl = l->owner;
	if (!cl || cl->ql != l)
		return;
	cl->ql = NULL;
	if (cl->role != ROLE_FOLLOWING || cl->srv->stopping)
		return;
	if (!cl->got_leaderinfo && cluster_now() - cl->follow_since < limit_ms(cl, cl->cfg->init_limit)) {
		/* it may not know yet that it leads: the timer dials again */
		cl->info_sent = false;
		return;
	}
	cluster_look(cl, "lost the leader");
}

static void dial(struct cluster *cl)
{
	const struct config_server *s = cluster_server(cl, cl->leader_id);
	struct sockaddr_storage addr;
	if (!s || peer_resolve(s->host, s->quorum_port, &addr))
		return;
	cl->ql = peerlink_dial(cl->loop, (struct sockaddr *)&addr, DIAL_TIMEOUT_MS, cl, on_up,
			       on_msg, on_down);
	if (cl->ql)
		cl->ql->sid = cl->leader_id;
}

static void ftimer_cb(uv_timer_t *t)
{
	struct cluster *cl = t->data;
	int64_t now = cluster_now();
	if (cl->role != ROLE_FOLLOWING)
		return;
	int64_t lim = limit_ms(cl, cl->serving ? cl->cfg->sync_limit : cl->cfg->init_limit);
	if (!cl->ql) {
		if (now - cl->follow_since > limit_ms(cl, cl->cfg->init_limit)) {
			cluster_look(cl, "cannot reach the leader");
			return;
		}
		dial(cl);
		return;
	}
	if (cl->ql->up && now - cl->last_heard > lim)
		cluster_look(cl, "the leader is silent");
}

void follower_start(struct cluster *cl, int leader)
{
	cl->role = ROLE_FOLLOWING;
	cl->leader_id = leader;
	cl->info_sent = false;
	cl->got_leaderinfo = false;
	cl->nl_pending = false;
	cl->nl_acked = false;
	cl->acked = 0;
	cl->follow_since = cl->last_heard = cluster_now();
	dial(cl);
	int64_t tick = cl->cfg->tick_time / 2 > 10 ? cl->cfg->tick_time / 2 : 10;
	if (tick > REDIAL_MS)
		tick = REDIAL_MS;
	uv_timer_start(&cl->ftimer, ftimer_cb, (uint64_t)tick, (uint64_t)tick);
}

void follower_stop(struct cluster *cl)
{
	uv_timer_stop(&cl->ftimer);
	if (cl->ql) {
		struct peer_link *l = cl->ql;
		cl->ql = NULL;
		peerlink_close(l);
	}
	struct pending *p;
	while ((p = pop_fwd(cl)) != NULL)
		server_pending_free(cl->srv, p);
	snapfile_abort(cl->snapw);
	cl->snapw = NULL;
	cl->nl_pending = cl->nl_acked = false;
}

void follower_on_durable(struct cluster *cl)
{
	struct server *srv = cl->srv;
	maybe_send_info(cl);
	maybe_ack_newleader(cl);
	if (cl->nl_acked && cl->ql && srv->durable_zxid > cl->acked) {
		cl->acked = srv->durable_zxid;
		send_long(cl, MSG_ACK, cl->acked);
	}
}

void cluster_forward(struct cluster *cl, struct pending *p, int64_t sid, int32_t type,
		     const void *body, size_t len, const struct conn *c)
{
	if (!cl->ql || !cl->serving) {
		server_pending_free(cl->srv, p);
		return;
	}
	if (cl->fwd_tail)
		cl->fwd_tail->next = p;
	else
		cl->fwd_head = p;
	cl->fwd_tail = p;
	p->next = NULL;

	size_t off = peerlink_begin(cl->ql, MSG_REQUEST);
	struct buf *b = peerlink_out(cl->ql);
	jute_put_long(b, sid);
	jute_put_int(b, p->xid);
	jute_put_int(b, type);
	jute_put_bool(b, c->auth.super);
	jute_put_int(b, c->auth.n);
	for (int i = 0; i < c->auth.n; i++) {
		jute_put_string(b, c->auth.ids[i].scheme);
		jute_put_string(b, c->auth.ids[i].id);
	}
	jute_put_buffer(b, body, (int32_t)len);
	peerlink_end(cl->ql, off);
}
