/*
 * cluster.h - replication: leader election and Zab-style atomic broadcast
 * between the servers of a zoo.cfg ensemble.
 *
 *   election.c     fast leader election (votes over the election port)
 *   zab_leader.c   discovery, sync and broadcast as the leader
 *   zab_follower.c the same as a follower; forwards its clients' writes
 *   history.c      recent txns in memory, for DIFF/TRUNC decisions
 *   peerlink.c     framed TCP links between replicas
 *
 * A replica is LOOKING (electing), FOLLOWING or LEADING.  Its clients are
 * served only once the leader has established its epoch (leader) or sent
 * UPTODATE (follower): a replica outside a working quorum refuses clients,
 * so they fail over to one that has it.
 *
 * Persistent state (dataDir): acceptedEpoch (the newest epoch this replica
 * promised to follow) and currentEpoch (the epoch whose leader's history it
 * has durably logged), written atomically, each only after what it vouches
 * for is on disk.
 *
 * Invariants, in addition to server.h's:
 * (1) The tree only ever holds committed txns, here too: at start a
 *     clustered replica applies its snapshot only and queues the logged txns
 *     after it as uncommitted; a leader commits them when a quorum has
 *     acknowledged NEWLEADER, a follower when the leader says so (COMMIT,
 *     UPTODATE) - or they are truncated.
 * (2) A follower ACKs a proposal, or NEWLEADER, only after fsync; it writes
 *     currentEpoch only after every txn of the sync is durable
 *     (ZOOKEEPER-3911/4643/4646).
 * (3) A leader syncs nobody before a quorum has acknowledged its epoch with
 *     histories no newer than its own: that quorum intersects every commit
 *     quorum, so the leader holds every committed txn.
 * (4) Commits are in zxid order (cumulative), never beyond what a quorum
 *     has durably logged nor beyond the leader's own fsync, so the leader
 *     has applied everything any follower has.
 */
#ifndef COORD_CLUSTER_H
#define COORD_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "history.h"
#include "jute.h"
#include "zoocfg.h"

struct server;
struct peer_link;
struct pending;
struct conn;

enum role { ROLE_LOOKING, ROLE_FOLLOWING, ROLE_LEADING };

/* Peer message types (u8 after the frame length). */
enum {
	/* election port */
	MSG_VOTE = 1,
	/* quorum port, follower -> leader */
	MSG_FOLLOWERINFO = 10,
	MSG_ACKEPOCH,
	MSG_ACK,        /* zxid: everything up to it is durable here */
	MSG_ACKNL,      /* NEWLEADER acknowledged: synced and durable up to zxid */
	MSG_REQUEST,    /* a client request to turn into a txn */
	MSG_PINGREPLY,  /* sessions touched since the last one */
	/* quorum port, leader -> follower */
	MSG_LEADERINFO = 30,
	MSG_DIFF,       /* sync: proposals follow */
	MSG_TRUNCATE,      /* sync: cut the log after zxid, then proposals follow */
	MSG_SNAP,       /* sync: snapshot records follow, then SNAPEND */
	MSG_SNAPREC,
	MSG_SNAPEND,
	MSG_PROPOSAL,   /* zxid, origin server id, txn */
	MSG_COMMIT,     /* everything up to zxid is committed */
	MSG_NEWLEADER,  /* epoch, zxid: end of the sync stream */
	MSG_UPTODATE,   /* start serving; committed zxid */
	MSG_RESULT,     /* a forwarded request that made no txn: its reply */
	MSG_PING,
};

enum peer_state { PS_LOOKING = 0, PS_FOLLOWING = 1, PS_LEADING = 2 };

struct vote {
	int64_t sid;
	int64_t zxid;
	int64_t epoch;
};

struct learner;

struct cluster {
	struct server *srv;
	struct config *cfg;
	uv_loop_t *loop;
	int myid;
	int nvoters;
	int quorum;
	enum role role;
	bool serving;
	int64_t accepted_epoch, current_epoch;

	/* election */
	uv_tcp_t elisten;
	uv_timer_t etimer;
	struct peer_link *eout[CONFIG_MAX_SERVERS];
	int64_t eout_retry[CONFIG_MAX_SERVERS]; /* ms clock of next dial */
	int64_t round;
	struct vote vote;
	struct {
		bool have;
		int state;
		int64_t round;
		struct vote v;
	} recv[CONFIG_MAX_SERVERS], oob[CONFIG_MAX_SERVERS];
	int64_t agree_since;
	int64_t last_broadcast;
	int64_t looking_since;

	/* leader */
	uv_tcp_t qlisten;
	uv_timer_t ltimer;
	struct learner *learners;
	int64_t epoch;          /* the epoch being established / led */
	bool epoch_set;         /* LEADERINFO went out */
	bool established;       /* a quorum acked NEWLEADER */
	int64_t newleader_zxid;
	int64_t lead_since;
	int64_t quorum_seen;    /* last time a quorum was heard from */
	/*
	 * sync is linearizable: it is answered only once a quorum has answered
	 * a PING sent after the sync arrived, which proves that no newer leader
	 * existed then (ZooKeeper answers at once: ZOOKEEPER-1675).
	 */
	int64_t sync_round;     /* the last round of PINGs sent */
	int64_t sync_confirmed; /* the last round a quorum echoed */
	bool round_wanted;      /* start a round at the end of this iteration */

	/* follower */
	struct peer_link *ql;   /* link to the leader */
	int leader_id;
	uv_timer_t ftimer;
	int64_t last_heard;
	int64_t follow_since;
	bool info_sent;
	bool got_leaderinfo;
	bool nl_pending;        /* NEWLEADER waits for our log to be durable */
	int64_t nl_epoch, nl_zxid;
	bool nl_acked;
	int64_t acked;          /* last ACK sent */
	struct pending *fwd_head, *fwd_tail; /* forwarded, awaiting outcome */
	struct snapfile_writer *snapw;
	int64_t snap_zxid;

	struct history hist;
	uint64_t elections;
	int64_t election_ms;    /* how long the last election took */
};

int cluster_init(struct cluster *cl, struct server *srv);
/* Start: listen on the election/quorum ports and look for a leader. */
int cluster_start(struct cluster *cl);
void cluster_stop(struct cluster *cl);

/* The last zxid this replica has logged (its history's end). */
int64_t cluster_last_logged(const struct cluster *cl);

/* server.c calls these */
void cluster_on_append(struct cluster *cl, int64_t zxid, const void *txn, size_t len, int origin);
void cluster_on_durable(struct cluster *cl, int64_t durable);
void cluster_log_failed(struct cluster *cl);
void cluster_forward(struct cluster *cl, struct pending *p, int64_t sid, int32_t type,
		     const void *body, size_t len, const struct conn *c);
void cluster_sync_done(struct cluster *cl, struct pending *p);
const char *cluster_mode(const struct cluster *cl);

/* shared between election.c, zab_leader.c, zab_follower.c */
void cluster_look(struct cluster *cl, const char *why);
void election_start(struct cluster *cl);
int election_init(struct cluster *cl);
void election_stop(struct cluster *cl);
void election_tick(struct cluster *cl);
void leader_start(struct cluster *cl);
void leader_stop(struct cluster *cl);
int leader_listen(struct cluster *cl);
void leader_on_append(struct cluster *cl, int64_t zxid, const void *txn, size_t len, int origin);
void leader_on_durable(struct cluster *cl);
/* sync: the round a sync arriving now waits for; starting rounds. */
int64_t leader_sync_need(struct cluster *cl);
void leader_start_round(struct cluster *cl);
/* Followers connected (synced: acked NEWLEADER), for mntr. */
int leader_learners(const struct cluster *cl, bool synced);
void follower_start(struct cluster *cl, int leader);
void follower_stop(struct cluster *cl);
void follower_on_durable(struct cluster *cl);
int cluster_write_epoch(struct cluster *cl, const char *name, int64_t epoch);
const struct config_server *cluster_server(const struct cluster *cl, int sid);
int64_t cluster_now(void);

#endif
