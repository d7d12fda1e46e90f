/*
 * zab_leader.c - the leader's side of Zab: discovery, synchronisation and
 * broadcast (ZooKeeper's Leader and LearnerHandler).
 *
 * Discovery: followers connect to our quorum port and send FOLLOWERINFO
 * (id, acceptedEpoch, last zxid).  Once a quorum (us included) has, the new
 * epoch is one past every acceptedEpoch seen; we persist it as our own
 * acceptedEpoch and send LEADERINFO.  Followers answer ACKEPOCH with their
 * currentEpoch and last zxid.  Nobody is synced before a quorum has acked
 * with histories no newer than ours (cluster.h invariant 3); a newer one
 * makes us give up the lead.
 *
 * Sync, per follower, from our history (history.h): DIFF (proposals after
 * its last zxid), TRUNC (it has a suffix we do not: cut back to the newest
 * zxid we share, then DIFF), or SNAP (it is behind our history: the whole
 * tree, then the proposals after it).  NEWLEADER closes the sync stream;
 * from then on it gets every proposal and commit like the others.  When a
 * quorum has acked NEWLEADER, our whole history is committed, currentEpoch
 * is written and clients are served (UPTODATE to followers).
 *
 * Broadcast: every txn we log is sent as a PROPOSAL to each synced
 * follower; ACKs are cumulative (a follower logs in order), and the commit
 * point is the highest zxid a quorum has durably logged, and never past our
 * own fsync (so no follower ever applies what we have not).  COMMIT is
 * cumulative too.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "log.h"
#include "peerlink.h"
#include "server.h"
#include "xalloc.h"

enum lstate { L_NEW, L_INFO, L_ACKEPOCH, L_SYNCED, L_ACTIVE };

/* A REQUEST that arrived behind an unanswered sync of the same follower. */
struct deferred {
	struct deferred *next;
	size_t len;
	char data[];
};

struct learner {
	struct learner *next;
	struct cluster *cl;
	struct peer_link *l;
	int sid;
	enum lstate st;
	int64_t accepted_epoch;
	int64_t cur_epoch;
	int64_t last_zxid;
	int64_t acked;
	int64_t last_heard;
	bool forward; /* gets proposals and commits */
	int64_t round_echo;           /* the last ping round it answered */
	int64_t sync_need;            /* its sync waits for this round (0: none) */
	int64_t sync_sid;
	int32_t sync_cxid;
	struct deferred *dhead, *dtail; /* its requests behind that sync */
	bool replaying;
};

static void free_deferred(struct learner *ln)
{
	while (ln->dhead) {
		struct deferred *d = ln->dhead;
		ln->dhead = d->next;
		free(d);
	}
	ln->dtail = NULL;
}

static int64_t limit_ms(const struct cluster *cl, int ticks)
{
	return (int64_t)ticks * cl->cfg->tick_time;
}

static void unlink_learner(struct cluster *cl, struct learner *ln)
{
	for (struct learner **pp = &cl->learners; *pp; pp = &(*pp)->next)
		if (*pp == ln) {
			*pp = ln->next;
			break;
		}
	free_deferred(ln);
	free(ln);
}

static void drop(struct learner *ln, const char *why)
{
	if (ln->l) {
		log_info("leader", "dropping follower %d (%s): %s", ln->sid, ln->l->s.peer, why);
		peerlink_close(ln->l); /* on_down unlinks it */
	}
}

static void send_long(struct learner *ln, int type, int64_t v)
{
	size_t off = peerlink_begin(ln->l, type);
	jute_put_long(peerlink_out(ln->l), v);
	peerlink_end(ln->l, off);
}

static void send_proposal(struct peer_link *l, int64_t zxid, int origin, const void *txn,
			  size_t len)
{
	size_t off = peerlink_begin(l, MSG_PROPOSAL);
	struct buf *b = peerlink_out(l);
	jute_put_long(b, zxid);
	jute_put_int(b, origin);
	jute_put_buffer(b, txn, (int32_t)len);
	peerlink_end(l, off);
}

static int count_state(const struct cluster *cl, enum lstate min)
{
	int n = 1; /* us */
	for (struct learner *ln = cl->learners; ln; ln = ln->next)
		if (ln->st >= min)
			n++;
	return n;
}

/* ---- sync ---- */

static int emit_snaprec(void *arg, const void *rec, size_t len)
{
	struct peer_link *l = arg;
	size_t off = peerlink_begin(l, MSG_SNAPREC);
	buf_append(peerlink_out(l), rec, len);
	peerlink_end(l, off);
	return 0;
}

static void sync_learner(struct cluster *cl, struct learner *ln)
{
	struct server *srv = cl->srv;
	struct history *h = &cl->hist;
	int64_t f = ln->last_zxid, last = history_last(h);
	size_t from;
	int exact;
	const char *how;

	if (f == last) {
		from = h->n;
		send_long(ln, MSG_DIFF, f);
		how = "DIFF (up to date)";
	} else if (f > last) {
		from = h->n;
		send_long(ln, MSG_TRUNCATE, last);
		how = "TRUNC";
	} else if ((from = history_after(h, f, &exact)), exact) {
		send_long(ln, MSG_DIFF, f);
		how = "DIFF";
	} else if (f > h->base) {
		send_long(ln, MSG_TRUNCATE, from ? history_at(h, from - 1)->zxid : h->base);
		how = "TRUNC+DIFF";
	} else {
		/* behind our history: the committed tree, then what follows it */
		send_long(ln, MSG_SNAP, srv->dt.last_zxid);
		storage_serialize(srv, emit_snaprec, ln->l);
		size_t off = peerlink_begin(ln->l, MSG_SNAPEND);
		peerlink_end(ln->l, off);
		from = history_after(h, srv->dt.last_zxid, NULL);
		how = "SNAP";
	}
	log_info("leader", "syncing follower %d from 0x%llx by %s, %zu proposals", ln->sid,
		 (unsigned long long)f, how, h->n - from);
	for (size_t i = from; i < h->n; i++) {
		const struct hentry *e = history_at(h, i);
		send_proposal(ln->l, e->zxid, 0, e->data, e->len);
	}
	if (cl->established)
		send_long(ln, MSG_COMMIT, srv->commit_zxid);
	size_t off = peerlink_begin(ln->l, MSG_NEWLEADER);
	jute_put_long(peerlink_out(ln->l), cl->epoch);
	jute_put_long(peerlink_out(ln->l), last);
	peerlink_end(ln->l, off);
	ln->st = L_SYNCED;
	ln->forward = true;
}

static bool ahead_of_us(const struct cluster *cl, const struct learner *ln)
{
	int64_t mine = cluster_last_logged(cl);
	return ln->cur_epoch > cl->current_epoch ||
	       (ln->cur_epoch == cl->current_epoch && ln->last_zxid > mine);
}

/* A quorum acked our epoch: sync everyone who did. */
static void maybe_sync_all(struct cluster *cl)
{
	if (cl->newleader_zxid >= 0 || count_state(cl, L_ACKEPOCH) < cl->quorum)
		return;
	cl->newleader_zxid = history_last(&cl->hist);
	for (struct learner *ln = cl->learners; ln; ln = ln->next)
		if (ln->st == L_ACKEPOCH)
			sync_learner(cl, ln);
}

static void establish(struct cluster *cl)
{
	struct server *srv = cl->srv;
	if (cl->established || cl->newleader_zxid < 0 ||
	    count_state(cl, L_ACTIVE) < cl->quorum || srv->durable_zxid < cl->newleader_zxid)
		return;
	/* our history is durable and a quorum has it: it is committed */
	if (cluster_write_epoch(cl, "currentEpoch", cl->epoch) < 0) {
		cluster_look(cl, "cannot write currentEpoch");
		return;
	}
	cl->current_epoch = cl->epoch;
	cl->established = true;
	cl->quorum_seen = cluster_now();
	server_commit(srv, cl->newleader_zxid);
	/*
	 * The epoch's zxids start after epoch << 32, which is what an error
	 * reply or a sync before the epoch's first txn is ordered behind: it
	 * has nothing to wait for.
	 */
	prep_abort_all(&srv->prep, cl->epoch << 32);
	if (srv->durable_zxid < cl->epoch << 32)
		srv->durable_zxid = cl->epoch << 32;
	server_commit(srv, cl->epoch << 32);
	for (struct learner *ln = cl->learners; ln; ln = ln->next) {
		if (ln->st != L_ACTIVE)
			continue;
		send_long(ln, MSG_COMMIT, srv->commit_zxid);
		send_long(ln, MSG_UPTODATE, srv->commit_zxid);
	}
	cl->serving = true;
	sessions_start_expiry(&srv->sessions);
	log_info("leader", "server %d leads epoch %lld from zxid 0x%llx with %d of %d servers, %lld ms after looking",
		 cl->myid, (long long)cl->epoch, (unsigned long long)cl->newleader_zxid,
		 count_state(cl, L_ACTIVE), cl->nvoters, (long long)(cluster_now() - cl->looking_since));
}

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void recompute_commit(struct cluster *cl)
{
	struct server *srv = cl->srv;
	int64_t v[CONFIG_MAX_SERVERS + 1];
	int n = 0;
	if (!cl->established)
		return;
	v[n++] = srv->durable_zxid;
	for (struct learner *ln = cl->learners; ln && n < CONFIG_MAX_SERVERS; ln = ln->next)
		if (ln->st == L_ACTIVE)
			v[n++] = ln->acked;
	if (n < cl->quorum)
		return;
	qsort(v, (size_t)n, sizeof(v[0]), cmp_desc);
	int64_t c = v[cl->quorum - 1];
	int64_t last = history_last(&cl->hist);
	if (c > last)
		c = last;
	/*
	 * Never beyond our own fsync, even when followers alone make a quorum:
	 * the leader must have applied everything any follower has, or a
	 * session a follower already answered for is unknown here when that
	 * client's next request arrives.
	 */
	if (c > srv->durable_zxid)
		c = srv->durable_zxid;
	if (c <= srv->commit_zxid)
		return;
	for (struct learner *ln = cl->learners; ln; ln = ln->next)
		if (ln->forward)
			send_long(ln, MSG_COMMIT, c);
	server_commit(srv, c);
}

/* ---- messages from followers ---- */

static void on_followerinfo(struct cluster *cl, struct learner *ln, struct jute_in *in)
{
	int sid = jute_get_int(in);
	ln->accepted_epoch = jute_get_long(in);
	ln->last_zxid = jute_get_long(in);
	if (in->err || !cluster_server(cl, sid) || sid == cl->myid || ln->st != L_NEW) {
		drop(ln, "bad FOLLOWERINFO");
		return;
	}
	struct learner *dup = NULL;
	for (struct learner *o = cl->learners; o; o = o->next)
		if (o != ln && o->sid == sid)
			dup = o;
	if (dup)
		drop(dup, "reconnected"); /* frees dup: not inside the loop */
	ln->sid = sid;
	ln->l->sid = sid;
	ln->st = L_INFO;
	if (!cl->epoch_set) {
		if (count_state(cl, L_INFO) < cl->quorum)
			return;
		int64_t e = cl->accepted_epoch;
		for (struct learner *o = cl->learners; o; o = o->next)
			if (o->st >= L_INFO && o->accepted_epoch > e)
				e = o->accepted_epoch;
		e++;
		if (cluster_write_epoch(cl, "acceptedEpoch", e) < 0) {
			cluster_look(cl, "cannot write acceptedEpoch");
			return;
		}
		cl->accepted_epoch = e;
		cl->epoch = e;
		cl->epoch_set = true;
		for (struct learner *o = cl->learners; o; o = o->next)
			if (o->st == L_INFO)
				send_long(o, MSG_LEADERINFO, e);
		return;
	}
	send_long(ln, MSG_LEADERINFO, cl->epoch);
}

static void on_ackepoch(struct cluster *cl, struct learner *ln, struct jute_in *in)
{
	ln->cur_epoch = jute_get_long(in);
	ln->last_zxid = jute_get_long(in);
	if (in->err || ln->st != L_INFO) {
		drop(ln, "bad ACKEPOCH");
		return;
	}
	ln->st = L_ACKEPOCH;
	if (ahead_of_us(cl, ln)) {
		log_warn("leader", "follower %d is ahead (epoch %lld, zxid 0x%llx)", ln->sid,
			 (long long)ln->cur_epoch, (unsigned long long)ln->last_zxid);
		if (!cl->established)
			cluster_look(cl, "a follower has a newer history");
		else
			drop(ln, "ahead of the leader");
		return;
	}
	if (cl->newleader_zxid >= 0)
		sync_learner(cl, ln);
	else
		maybe_sync_all(cl);
}

static void on_acknl(struct cluster *cl, struct learner *ln, struct jute_in *in)
{
	int64_t z = jute_get_long(in);
	if (in->err || ln->st != L_SYNCED) {
		drop(ln, "bad NEWLEADER ack");
		return;
	}
	ln->st = L_ACTIVE;
	ln->acked = z;
	if (!cl->established) {
		establish(cl);
		return;
	}
	send_long(ln, MSG_COMMIT, cl->srv->commit_zxid);
	send_long(ln, MSG_UPTODATE, cl->srv->commit_zxid);
	log_info("leader", "follower %d is up to date", ln->sid);
	recompute_commit(cl);
}

static void send_result(struct learner *ln, int64_t sid, int32_t cxid, int32_t type, int32_t err,
			int64_t after, const struct multi_err *merr)
{
	size_t off = peerlink_begin(ln->l, MSG_RESULT);
	struct buf *b = peerlink_out(ln->l);
	jute_put_long(b, sid);
	jute_put_int(b, cxid);
	jute_put_int(b, type);
	jute_put_int(b, err);
	jute_put_long(b, after);
	jute_put_int(b, merr->n);
	for (int32_t i = 0; i < merr->n; i++)
		jute_put_int(b, merr->errs[i]);
	peerlink_end(ln->l, off);
}

static void on_request(struct cluster *cl, struct learner *ln, struct jute_in *in)
{
	struct server *srv = cl->srv;
	struct auth_info ai = { NULL, 0, false };
	if (!ln->l)
		return;
	if (ln->sync_need) {
		/* answered in order: after the sync before it */
		size_t n = in->len - in->off;
		struct deferred *d = xmalloc(sizeof(*d) + n);
		d->next = NULL;
		d->len = n;
		memcpy(d->data, in->p + in->off, n);
		if (ln->dtail)
			ln->dtail->next = d;
		else
			ln->dhead = d;
		ln->dtail = d;
		return;
	}
	int64_t sid = jute_get_long(in);
	int32_t cxid = jute_get_int(in);
	int32_t type = jute_get_int(in);
	ai.super = jute_get_bool(in);
	int32_t n = jute_get_count(in, 8);
	for (int32_t i = 0; i < n && !in->err; i++) {
		char *scheme = jute_get_string(in, NULL);
		char *id = jute_get_string(in, NULL);
		if (scheme && id)
			auth_add(&ai, scheme, id);
	}
	int32_t blen;
	const char *body = jute_get_buffer(in, &blen);
	if (in->err || ln->st != L_ACTIVE || !cl->serving) {
		auth_free(&ai);
		drop(ln, "bad REQUEST");
		return;
	}
	struct jute_in bin;
	struct multi_err merr;
	if (type == ZOP_SYNC) {
		auth_free(&ai);
		ln->sync_need = leader_sync_need(cl);
		ln->sync_sid = sid;
		ln->sync_cxid = cxid;
		return;
	}
	jute_in_init(&bin, body, blen > 0 ? (size_t)blen : 0, in->arena);
	int rc = server_remote_request(srv, ln->sid, sid, cxid, type, &ai, &bin, &merr);
	if (rc <= 0)
		send_result(ln, sid, cxid, type, rc, srv->prep.last_zxid, &merr);
	free(merr.errs);
	auth_free(&ai);
}

static void check_rounds(struct cluster *cl);

static void on_pingreply(struct cluster *cl, struct learner *ln, struct jute_in *in)
{
	int64_t round = jute_get_long(in);
	if (!in->err && round > ln->round_echo && round <= cl->sync_round) {
		ln->round_echo = round;
		check_rounds(cl);
	}
	int32_t n = jute_get_count(in, 8);
	for (int32_t i = 0; i < n && !in->err; i++) {
		struct session *s = session_find(&cl->srv->sessions, jute_get_long(in));
		if (s && !in->err)
			session_touch(&cl->srv->sessions, s);
	}
}

static void on_msg(struct peer_link *l, int type, struct jute_in *in)
{
	struct learner *ln = l->owner;
	struct cluster *cl = ln->cl;
	ln->last_heard = cluster_now();
	switch (type) {
	case MSG_FOLLOWERINFO:
		on_followerinfo(cl, ln, in);
		break;
	case MSG_ACKEPOCH:
		on_ackepoch(cl, ln, in);
		break;
	case MSG_ACKNL:
		on_acknl(cl, ln, in);
		break;
	case MSG_ACK: {
		int64_t z = jute_get_long(in);
		if (in->err || ln->st != L_ACTIVE) {
			drop(ln, "bad ACK");
			break;
		}
		if (z > ln->acked)
			ln->acked = z;
		recompute_commit(cl);
		break;
	}
	case MSG_REQUEST:
		on_request(cl, ln, in);
		break;
	case MSG_PINGREPLY:
		on_pingreply(cl, ln, in);
		break;
	default:
		drop(ln, "unexpected message");
		break;
	}
}

static void on_down(struct peer_link *l)
{
	struct learner *ln = l->owner;
	if (!ln)
		return;
	ln->l = NULL;
	if (!ln->replaying)
		unlink_learner(ln->cl, ln);
}

static void on_conn(uv_stream_t *server, int status)
{
	struct cluster *cl = container_of((uv_tcp_t *)server, struct cluster, qlisten);
	if (status < 0)
		return;
	struct peer_link *l = peerlink_accept(server, NULL, on_msg, on_down);
	if (!l)
		return;
	if (cl->role != ROLE_LEADING || cl->srv->stopping) {
		peerlink_close(l); /* not leading: the follower looks again */
		return;
	}
	struct learner *ln = xcalloc(1, sizeof(*ln));
	ln->cl = cl;
	ln->l = l;
	ln->sid = -1;
	ln->last_heard = cluster_now();
	l->owner = ln;
	ln->next = cl->learners;
	cl->learners = ln;
}

/* ---- the leader's clock: pings, silent followers, lost quorum ---- */

static void ltimer_cb(uv_timer_t *t)
{
	struct cluster *cl = t->data;
	struct server *srv = cl->srv;
	int64_t now = cluster_now();
	int heard = 1;

	for (struct learner *ln = cl->learners, *next; ln; ln = next) {
		next = ln->next;
		int64_t lim = limit_ms(cl, ln->st == L_ACTIVE ? cl->cfg->sync_limit : cl->cfg->init_limit);
		if (now - ln->last_heard > lim) {
			drop(ln, "silent");
			continue;
		}
		if (ln->st >= L_SYNCED) {
			size_t off = peerlink_begin(ln->l, MSG_PING);
			jute_put_long(peerlink_out(ln->l), cl->sync_round);
			peerlink_end(ln->l, off);
		}
		if (ln->st == L_ACTIVE)
			heard++;
	}
	if (!cl->established) {
		if (now - cl->lead_since > limit_ms(cl, cl->cfg->init_limit))
			cluster_look(cl, "no quorum of followers synced in time");
		return;
	}
	if (heard >= cl->quorum)
		cl->quorum_seen = now;
	else if (now - cl->quorum_seen > limit_ms(cl, cl->cfg->sync_limit))
		cluster_look(cl, "lost the quorum");
	else if ((srv->prep.last_zxid & 0xffffffffLL) > 0xfff00000LL)
		cluster_look(cl, "zxid counter about to roll over: new epoch");
}

int leader_listen(struct cluster *cl)
{
	const struct config_server *me = cluster_server(cl, cl->myid);
	return peer_listen(cl->loop, &cl->qlisten, me->host, me->quorum_port, on_conn);
}

void leader_start(struct cluster *cl)
{
	cl->role = ROLE_LEADING;
	cl->epoch_set = false;
	cl->established = false;
	cl->newleader_zxid = -1;
	cl->lead_since = cluster_now();
	int64_t tick = cl->cfg->tick_time / 2 > 10 ? cl->cfg->tick_time / 2 : 10;
	uv_timer_start(&cl->ltimer, ltimer_cb, (uint64_t)tick, (uint64_t)tick);
}

void leader_stop(struct cluster *cl)
{
	uv_timer_stop(&cl->ltimer);
	while (cl->learners) {
		struct learner *ln = cl->learners;
		if (ln->l) {
			ln->l->owner = NULL;
			peerlink_close(ln->l);
		}
		cl->learners = ln->next;
		free(ln);
	}
	cl->established = false;
	cl->epoch_set = false;
	if (cl->srv->stopping && !uv_is_closing((uv_handle_t *)&cl->qlisten))
		uv_close((uv_handle_t *)&cl->qlisten, NULL);
}

void leader_on_append(struct cluster *cl, int64_t zxid, const void *txn, size_t len, int origin)
{
	for (struct learner *ln = cl->learners; ln; ln = ln->next)
		if (ln->forward)
			send_proposal(ln->l, zxid, origin, txn, len);
}

void leader_on_durable(struct cluster *cl)
{
	if (!cl->established)
		establish(cl);
	else
		recompute_commit(cl);
}

int leader_learners(const struct cluster *cl, bool synced)
{
	int n = 0;
	for (struct learner *ln = cl->learners; ln; ln = ln->next)
		if (!synced || ln->st == L_ACTIVE)
			n++;
	return n;
}

/* ---- linearizable sync: rounds of pings ---- */

int64_t leader_sync_need(struct cluster *cl)
{
	cl->round_wanted = true; /* leader_start_round() at the end of this iteration */
	return cl->sync_round + 1;
}

void leader_start_round(struct cluster *cl)
{
	cl->round_wanted = false;
	if (cl->role != ROLE_LEADING)
		return;
	cl->sync_round++;
	for (struct learner *ln = cl->learners; ln; ln = ln->next) {
		if (ln->st != L_ACTIVE || !ln->l)
			continue;
		size_t off = peerlink_begin(ln->l, MSG_PING);
		jute_put_long(peerlink_out(ln->l), cl->sync_round);
		peerlink_end(ln->l, off);
	}
}

/* Answer the follower's sync, then what it sent behind it. */
static void flush_sync(struct cluster *cl, struct learner *ln)
{
	struct multi_err none = { 0, NULL };
	ln->replaying = true;
	while (ln->l && ln->sync_need && ln->sync_need <= cl->sync_confirmed) {
		send_result(ln, ln->sync_sid, ln->sync_cxid, ZOP_SYNC, ZOK, cl->srv->prep.last_zxid,
			    &none);
		ln->sync_need = 0;
		while (ln->l && !ln->sync_need && ln->dhead) {
			struct deferred *d = ln->dhead;
			struct jute_in in;
			struct arena arena = { 0 };
			ln->dhead = d->next;
			if (!ln->dhead)
				ln->dtail = NULL;
			jute_in_init(&in, d->data, d->len, &arena);
			on_request(cl, ln, &in);
			arena_free(&arena);
			free(d);
		}
	}
	ln->replaying = false;
	if (!ln->l)
		unlink_learner(cl, ln); /* dropped meanwhile */
}

static int cmp_desc64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The newest round a quorum (us included) has answered. */
static void check_rounds(struct cluster *cl)
{
	int64_t v[CONFIG_MAX_SERVERS];
	int n = 0;
	for (struct learner *ln = cl->learners; ln && n < CONFIG_MAX_SERVERS; ln = ln->next)
		if (ln->st == L_ACTIVE)
			v[n++] = ln->round_echo;
	if (n < cl->quorum - 1)
		return;
	qsort(v, (size_t)n, sizeof(v[0]), cmp_desc64);
	int64_t r = v[cl->quorum - 2];
	if (r <= cl->sync_confirmed)
		return;
	cl->sync_confirmed = r;
	server_syncs_confirmed(cl->srv, r);
	for (struct learner *ln = cl->learners, *next; ln; ln = next) {
		next = ln->next;
		if (ln->sync_need)
			flush_sync(cl, ln);
	}
}
