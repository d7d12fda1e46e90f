/*
 * session.h - the session tracker (ZooKeeper's SessionTrackerImpl and
 * ExpiryQueue).
 *
 * Sessions are created and closed only by transactions (createSession,
 * closeSession), so every replica and every replay agrees on which sessions
 * exist.  Expiry is a local decision of the leader (standalone: this server)
 * that becomes a closeSession transaction; followers never expire sessions.
 *
 * Expiry times are rounded up to the next tick, and sessions are kept in a
 * timing wheel with one slot per tick, so one timer callback per tick
 * expires a whole bucket at once however many sessions there are.
 *
 * Invariants:
 * (1) A session is in exactly one wheel slot, the one of its expire_at.
 * (2) A closing session is never expired twice and accepts no new requests.
 */
#ifndef COORD_SESSION_H
#define COORD_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define SESSION_PASSWD_LEN 16
#define SESSION_WHEEL 64

struct conn;

struct session {
	int64_t id;
	int32_t timeout;
	uint8_t passwd[SESSION_PASSWD_LEN];
	int64_t expire_at;
	struct session *hnext;
	struct session *wnext, *wprev;
	struct conn *conn; /* the connection that owns it now, or NULL */
	bool closing;
	bool touched;      /* activity since the last ping to the leader */
};

struct sessions;
typedef void (*session_expire_cb)(struct sessions *t, struct session *s);

struct sessions {
	struct session **b;
	size_t nb;
	size_t count;
	struct session *wheel[SESSION_WHEEL];
	int32_t tick;
	int64_t next_expiry; /* bucket time the timer is due for */
	int64_t next_id;
	bool expiring;       /* this server expires sessions (leader/standalone) */
	uv_timer_t timer;
	session_expire_cb expire;
	void *data;
};

void sessions_init(struct sessions *t, uv_loop_t *loop, int32_t tick, int64_t server_id);
/* Start expiring (leader/standalone): every session gets a full timeout. */
void sessions_start_expiry(struct sessions *t);

/* Stop expiring (a leader stepping down). */
void sessions_stop_expiry(struct sessions *t);

struct session *session_find(const struct sessions *t, int64_t id);
/* Called when a createSession txn is applied. */
struct session *session_add(struct sessions *t, int64_t id, int32_t timeout,
			    const uint8_t *passwd, int32_t pwlen);
/* Called when a closeSession txn is applied. */
void session_remove(struct sessions *t, int64_t id);
void session_touch(struct sessions *t, struct session *s);
/* A fresh unique id: (server id << 56) | (ms clock << 24 >> 8), then +1. */
int64_t session_next_id(struct sessions *t);

typedef void (*session_iter_cb)(void *arg, struct session *s);
void sessions_foreach(const struct sessions *t, session_iter_cb cb, void *arg);

#endif
