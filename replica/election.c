/*
 * election.c - fast leader election (ZooKeeper's FastLeaderElection, in
 * the shape of its notifications, rounds and finalize wait).
 *
 * Every replica dials every other one's election port and sends its
 * notifications on that outgoing link: (sender, state, round, vote), a vote
 * being (server id, last logged zxid, currentEpoch).  Incoming links only
 * receive, so a pair of replicas has two TCP connections and no tie-break
 * is needed.  A LOOKING replica adopts the best vote it hears (newest
 * epoch, then zxid, then id), re-sends on every change and every 400 ms,
 * and decides once a quorum of its round agrees with its vote: at once if
 * everybody does, else after 200 ms without a better vote.  A replica that
 * is FOLLOWING or LEADING answers every LOOKING notification with its own,
 * so a late or restarted replica joins the running leader once a quorum of
 * replicas says they follow (or are) that leader.
 *
 * The election only proposes a leader: safety comes from discovery
 * (zab_leader.c), where the leader checks that a quorum has histories no
 * newer than its own before it syncs anyone.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "cluster.h"
#include "log.h"
#include "peerlink.h"
#include "server.h"
#include "xalloc.h"

#define TICK_MS 50
#define RESEND_MS 400
#define FINALIZE_MS 200
#define DIAL_TIMEOUT_MS 1000
#define REDIAL_MS 200

static int idx_of(const struct cluster *cl, int64_t sid)
{
	for (int i = 0; i < cl->cfg->nservers; i++)
		if (cl->cfg->servers[i].id == sid)
			return i;
	return -1;
}

static bool better(const struct vote *a, const struct vote *b)
{
	if (a->epoch != b->epoch)
		return a->epoch > b->epoch;
	if (a->zxid != b->zxid)
		return a->zxid > b->zxid;
	return a->sid > b->sid;
}

static bool same(const struct vote *a, const struct vote *b)
{
	return a->sid == b->sid && a->zxid == b->zxid && a->epoch == b->epoch;
}

static struct vote self_vote(const struct cluster *cl)
{
	struct vote v = { cl->myid, cluster_last_logged(cl), cl->current_epoch };
	return v;
}

static int my_state(const struct cluster *cl)
{
	return cl->role == ROLE_LEADING ? PS_LEADING
	       : cl->role == ROLE_FOLLOWING ? PS_FOLLOWING : PS_LOOKING;
}

static void send_vote(struct cluster *cl, int i)
{
	struct peer_link *l = cl->eout[i];
	if (!l || !l->up)
		return;
	size_t off = peerlink_begin(l, MSG_VOTE);
	struct buf *b = peerlink_out(l);
	jute_put_int(b, cl->myid);
	jute_put_int(b, my_state(cl));
	jute_put_long(b, cl->round);
	jute_put_long(b, cl->vote.sid);
	jute_put_long(b, cl->vote.zxid);
	jute_put_long(b, cl->vote.epoch);
	peerlink_end(l, off);
}

static void broadcast(struct cluster *cl)
{
	for (int i = 0; i < cl->cfg->nservers; i++)
		if (cl->cfg->servers[i].id != cl->myid)
			send_vote(cl, i);
	cl->last_broadcast = cluster_now();
}

static void set_vote(struct cluster *cl, const struct vote *v)
{
	cl->vote = *v;
	cl->agree_since = 0;
	int me = idx_of(cl, cl->myid);
	cl->recv[me].have = true;
	cl->recv[me].round = cl->round;
	cl->recv[me].v = *v;
	broadcast(cl);
}

static void decide(struct cluster *cl, int leader)
{
	cl->elections++;
	cl->election_ms = cluster_now() - cl->looking_since;
	log_info("election", "server %d: round %lld elected server %d (zxid 0x%llx, epoch %lld) in %lld ms",
		 cl->myid, (long long)cl->round, leader, (unsigned long long)cl->vote.zxid,
		 (long long)cl->vote.epoch, (long long)cl->election_ms);
	if (leader == cl->myid)
		leader_start(cl);
	else
		follower_start(cl, leader);
	broadcast(cl); /* tell the others our new state */
}

static void check_decide(struct cluster *cl)
{
	int n = 0;
	for (int i = 0; i < cl->cfg->nservers; i++)
		if (cl->recv[i].have && cl->recv[i].round == cl->round && same(&cl->recv[i].v, &cl->vote))
			n++;
	if (n < cl->quorum) {
		cl->agree_since = 0;
		return;
	}
	int64_t now = cluster_now();
	if (!cl->agree_since)
		cl->agree_since = now;
	if (n == cl->nvoters || now - cl->agree_since >= FINALIZE_MS)
		decide(cl, (int)cl->vote.sid);
}

/* Join a running leader: a quorum says it follows (or is) that leader. */
static void check_join(struct cluster *cl)
{
	for (int i = 0; i < cl->cfg->nservers; i++) {
		if (!cl->oob[i].have || cl->oob[i].state != PS_LEADING)
			continue;
		const struct vote *lv = &cl->oob[i].v;
		if (lv->sid != cl->cfg->servers[i].id)
			continue;
		int n = 0;
		for (int j = 0; j < cl->cfg->nservers; j++)
			if (cl->oob[j].have && cl->oob[j].v.sid == lv->sid &&
			    cl->oob[j].v.epoch == lv->epoch)
				n++;
		if (n >= cl->quorum) {
			cl->vote = *lv;
			decide(cl, (int)lv->sid);
			return;
		}
	}
}

static void on_msg(struct peer_link *l, int type, struct jute_in *in)
{
	struct cluster *cl = l->owner;
	if (type != MSG_VOTE) {
		log_warn("election", "%s: unexpected message %d, closing", l->s.peer, type);
		peerlink_close(l);
		return;
	}
	int sender = jute_get_int(in);
	int state = jute_get_int(in);
	int64_t round = jute_get_long(in);
	struct vote v;
	v.sid = jute_get_long(in);
	v.zxid = jute_get_long(in);
	v.epoch = jute_get_long(in);
	int i = idx_of(cl, sender);
	if (in->err || i < 0 || sender == cl->myid || idx_of(cl, v.sid) < 0) {
		log_warn("election", "%s: malformed vote, closing", l->s.peer);
		peerlink_close(l);
		return;
	}
	if (cl->srv->stopping)
		return;
	if (cl->role != ROLE_LOOKING) {
		if (state == PS_LOOKING)
			send_vote(cl, i);
		return;
	}
	if (state == PS_LOOKING) {
		cl->oob[i].have = false;
		if (round > cl->round) {
			cl->round = round;
			for (int j = 0; j < cl->cfg->nservers; j++)
				cl->recv[j].have = false;
			struct vote me = self_vote(cl);
			set_vote(cl, better(&v, &me) ? &v : &me);
		} else if (round < cl->round) {
			send_vote(cl, i); /* help it catch up */
			return;
		} else if (better(&v, &cl->vote)) {
			set_vote(cl, &v);
		}
		cl->recv[i].have = true;
		cl->recv[i].round = round;
		cl->recv[i].v = v;
		check_decide(cl);
	} else {
		cl->oob[i].have = true;
		cl->oob[i].state = state;
		cl->oob[i].round = round;
		cl->oob[i].v = v;
		/* it decided in our round: its vote still counts there (ZooKeeper
		 * does the same), which is how the last one to decide decides */
		cl->recv[i].have = round == cl->round;
		cl->recv[i].round = round;
		cl->recv[i].v = v;
		check_decide(cl);
		if (cl->role == ROLE_LOOKING)
			check_join(cl);
	}
}

static void on_in_down(struct peer_link *l)
{
	(void)l;
}

static void on_out_up(struct peer_link *l)
{
	struct cluster *cl = l->owner;
	send_vote(cl, idx_of(cl, l->sid));
}

static void on_out_down(struct peer_link *l)
{
	struct cluster *cl = l->owner;
	int i = idx_of(cl, l->sid);
	if (i >= 0 && cl->eout[i] == l) {
		cl->eout[i] = NULL;
		cl->eout_retry[i] = cluster_now() + REDIAL_MS;
	}
	/* what it said may no longer hold */
	if (i >= 0) {
		cl->oob[i].have = false;
		cl->recv[i].have = false;
	}
}

static void dial_peers(struct cluster *cl)
{
	int64_t now = cluster_now();
	for (int i = 0; i < cl->cfg->nservers; i++) {
		const struct config_server *s = &cl->cfg->servers[i];
		if (s->id == cl->myid || cl->eout[i] || now < cl->eout_retry[i])
			continue;
		struct sockaddr_storage addr;
		cl->eout_retry[i] = now + REDIAL_MS;
		if (peer_resolve(s->host, s->election_port, &addr))
			continue;
		struct peer_link *l = peerlink_dial(cl->loop, (struct sockaddr *)&addr,
						    DIAL_TIMEOUT_MS, cl, on_out_up, NULL, on_out_down);
		if (!l)
			continue;
		l->on_msg = on_msg; /* nothing is expected on it; a stray frame closes it */
		l->sid = s->id;
		cl->eout[i] = l;
	}
}

void election_tick(struct cluster *cl)
{
	if (cl->srv->stopping)
		return;
	dial_peers(cl);
	if (cl->role != ROLE_LOOKING)
		return;
	if (cluster_now() - cl->last_broadcast >= RESEND_MS)
		broadcast(cl);
	check_decide(cl);
}

static void etimer_cb(uv_timer_t *t)
{
	election_tick(t->data);
}

static void on_conn(uv_stream_t *server, int status)
{
	struct cluster *cl = container_of((uv_tcp_t *)server, struct cluster, elisten);
	if (status < 0)
		return;
	peerlink_accept(server, cl, on_msg, on_in_down);
}

int election_init(struct cluster *cl)
{
	const struct config_server *me = cluster_server(cl, cl->myid);
	int rc = peer_listen(cl->loop, &cl->elisten, me->host, me->election_port, on_conn);
	if (rc)
		return rc;
	uv_timer_start(&cl->etimer, etimer_cb, TICK_MS, TICK_MS);
	return 0;
}

void election_start(struct cluster *cl)
{
	cl->role = ROLE_LOOKING;
	cl->round++;
	for (int i = 0; i < cl->cfg->nservers; i++)
		cl->recv[i].have = cl->oob[i].have = false;
	struct vote me = self_vote(cl);
	set_vote(cl, &me);
	check_decide(cl);
}

void election_stop(struct cluster *cl)
{
	uv_timer_stop(&cl->etimer);
	if (!uv_is_closing((uv_handle_t *)&cl->elisten))
		uv_close((uv_handle_t *)&cl->elisten, NULL);
	for (int i = 0; i < cl->cfg->nservers; i++) {
		struct peer_link *l = cl->eout[i];
		cl->eout[i] = NULL;
		if (l)
			peerlink_close(l);
	}
}
