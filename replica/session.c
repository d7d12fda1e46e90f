/*
 * session.c - see session.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "session.h"
#include "xalloc.h"

static size_t slot_of(const struct sessions *t, int64_t id)
{
	return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 40) & (t->nb - 1);
}

static int64_t now_ms(const struct sessions *t)
{
	return (int64_t)uv_now(t->timer.loop);
}

static int64_t round_up(const struct sessions *t, int64_t when)
{
	return (when / t->tick + 1) * t->tick;
}

static void wheel_del(struct sessions *t, struct session *s)
{
	if (s->wprev)
		s->wprev->wnext = s->wnext;
	else if (t->wheel[(s->expire_at / t->tick) % SESSION_WHEEL] == s)
		t->wheel[(s->expire_at / t->tick) % SESSION_WHEEL] = s->wnext;
	if (s->wnext)
		s->wnext->wprev = s->wprev;
	s->wnext = s->wprev = NULL;
}

static void wheel_add(struct sessions *t, struct session *s)
{
	struct session **head = &t->wheel[(s->expire_at / t->tick) % SESSION_WHEEL];
	s->wprev = NULL;
	s->wnext = *head;
	if (*head)
		(*head)->wprev = s;
	*head = s;
}

void session_touch(struct sessions *t, struct session *s)
{
	s->touched = true;
	if (s->closing)
		return;
	int64_t when = round_up(t, now_ms(t) + s->timeout);
	if (when == s->expire_at)
		return;
	wheel_del(t, s);
	s->expire_at = when;
	wheel_add(t, s);
}

static void tick_cb(uv_timer_t *h)
{
	struct sessions *t = container_of(h, struct sessions, timer);
	int64_t now = now_ms(t);

	while (t->next_expiry <= now) {
		size_t i = (size_t)(t->next_expiry / t->tick) % SESSION_WHEEL;
		struct session *s = t->wheel[i], *next;
		for (; s; s = next) {
			next = s->wnext;
			if (s->expire_at > now || s->closing || !t->expiring)
				continue;
			/* expire() starts the closeSession txn and marks it closing */
			t->expire(t, s);
		}
		t->next_expiry += t->tick;
	}
}

void sessions_init(struct sessions *t, uv_loop_t *loop, int32_t tick, int64_t server_id)
{
	memset(t, 0, sizeof(*t));
	t->nb = 1024;
	t->b = xcalloc(t->nb, sizeof(*t->b));
	t->tick = tick > 0 ? tick : 2000;
	uv_timer_init(loop, &t->timer);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	t->next_id = (int64_t)(((ms << 24) >> 8) | ((uint64_t)server_id << 56));
}

void sessions_start_expiry(struct sessions *t)
{
	int64_t now = now_ms(t);
	t->expiring = true;
	t->next_expiry = round_up(t, now);
	for (size_t i = 0; i < t->nb; i++)
		for (struct session *s = t->b[i]; s; s = s->hnext)
			session_touch(t, s);
	uv_timer_start(&t->timer, tick_cb, (uint64_t)(t->next_expiry - now), (uint64_t)t->tick);
}

void sessions_stop_expiry(struct sessions *t)
{
	t->expiring = false;
	uv_timer_stop(&t->timer);
}

struct session *session_find(const struct sessions *t, int64_t id)
{
	for (struct session *s = t->b[slot_of(t, id)]; s; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

struct session *session_add(struct sessions *t, int64_t id, int32_t timeout,
			    const uint8_t *passwd, int32_t pwlen)
{
	struct session *s = session_find(t, id);
	if (s)
		return s;
	s = xcalloc(1, sizeof(*s));
	s->id = id;
	s->timeout = timeout;
	if (passwd && pwlen > 0)
		memcpy(s->passwd, passwd, pwlen < SESSION_PASSWD_LEN ? (size_t)pwlen : SESSION_PASSWD_LEN);
	size_t i = slot_of(t, id);
	s->hnext = t->b[i];
	t->b[i] = s;
	t->count++;
	s->expire_at = round_up(t, now_ms(t) + timeout);
	wheel_add(t, s);
	if (id >= t->next_id && (id >> 56) == (t->next_id >> 56))
		t->next_id = id + 1;
	return s;
}

void session_remove(struct sessions *t, int64_t id)
{
	struct session **pp = &t->b[slot_of(t, id)];
	while (*pp && (*pp)->id != id)
		pp = &(*pp)->hnext;
	struct session *s = *pp;
	if (!s)
		return;
	*pp = s->hnext;
	wheel_del(t, s);
	t->count--;
	free(s);
}

int64_t session_next_id(struct sessions *t)
{
	return t->next_id++;
}

void sessions_foreach(const struct sessions *t, session_iter_cb cb, void *arg)
{
	for (size_t i = 0; i < t->nb; i++)
		for (struct session *s = t->b[i]; s; s = s->hnext)
			cb(arg, s);
}
