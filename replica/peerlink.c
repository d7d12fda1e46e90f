/*
 * peerlink.c - see peerlink.h.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "peerlink.h"
#include "xalloc.h"

static struct peer_link *from_stream(struct stream *s)
{
	return container_of(s, struct peer_link, s);
}

static void timer_closed(uv_handle_t *h)
{
	struct peer_link *l = h->data;
	arena_free(&l->arena); /* the stream freed its buffers */
	free(l);
}

static void on_close(struct stream *s)
{
	struct peer_link *l = from_stream(s);
	uv_close((uv_handle_t *)&l->timer, timer_closed);
}

/* Deliver on_down once and close the stream. */
static void go_down(struct peer_link *l)
{
	if (l->down)
		return;
	l->down = true;
	l->up = false;
	uv_timer_stop(&l->timer);
	if (!l->s.closing)
		stream_close(&l->s);
	if (l->on_down)
		l->on_down(l);
}

void peerlink_close(struct peer_link *l)
{
	if (!l || l->down)
		return;
	if (l->in_cb) {
		l->close_req = true;
		return;
	}
	go_down(l);
}

static void on_eof(struct stream *s, int status)
{
	(void)status;
	go_down(from_stream(s));
}

static void on_read(struct stream *s)
{
	struct peer_link *l = from_stream(s);

	while (!l->down && !l->close_req) {
		size_t avail = s->in.len - s->in_off;
		const char *p = s->in.data + s->in_off;
		if (avail < 4)
			break;
		uint32_t len = be32_get(p);
		if (len < 1 || len > PEER_MAX_FRAME) {
			log_warn("peer", "%s: bad frame length %u, closing", s->peer, len);
			go_down(l);
			return;
		}
		if (avail < 4 + (size_t)len)
			break;
		s->in_off += 4 + len;
		struct jute_in in;
		jute_in_init(&in, p + 5, len - 1, &l->arena);
		l->in_cb = true;
		l->on_msg(l, (uint8_t)p[4], &in);
		l->in_cb = false;
		arena_reset(&l->arena);
	}
	if (l->close_req)
		go_down(l);
}

static void init_link(struct peer_link *l, uv_loop_t *loop, void *owner, peer_msg_cb on_msg,
		      peer_link_cb on_down)
{
	l->owner = owner;
	l->on_msg = on_msg;
	l->on_down = on_down;
	l->sid = -1;
	l->s.on_read = on_read;
	l->s.on_eof = on_eof;
	l->s.on_close = on_close;
	uv_timer_init(loop, &l->timer);
	l->timer.data = l;
}

static void connected(struct stream *s, int status)
{
	struct peer_link *l = from_stream(s);
	uv_timer_stop(&l->timer);
	if (status < 0) {
		go_down(l);
		return;
	}
	l->up = true;
	stream_start(&l->s);
	if (l->on_up)
		l->on_up(l);
}

static void connect_timeout(uv_timer_t *t)
{
	struct peer_link *l = t->data;
	go_down(l);
}

static void free_now(uv_handle_t *h)
{
	free(h->data);
}

struct peer_link *peerlink_dial(uv_loop_t *loop, const struct sockaddr *addr, int timeout_ms,
				void *owner, peer_link_cb on_up, peer_msg_cb on_msg,
				peer_link_cb on_down)
{
	struct peer_link *l = xcalloc(1, sizeof(*l));
	init_link(l, loop, owner, on_msg, on_down);
	l->on_up = on_up;
	int rc = stream_connect(loop, &l->s, addr, connected);
	if (rc < 0) {
		if (l->s.closing) {
			/* the stream's on_close frees it; on_down never ran */
			l->down = true;
		} else {
			l->timer.data = l;
			uv_close((uv_handle_t *)&l->timer, free_now);
		}
		return NULL;
	}
	uv_timer_start(&l->timer, connect_timeout, (uint64_t)timeout_ms, 0);
	return l;
}

struct peer_link *peerlink_accept(uv_stream_t *listener, void *owner, peer_msg_cb on_msg,
				  peer_link_cb on_down)
{
	struct peer_link *l = xcalloc(1, sizeof(*l));
	init_link(l, listener->loop, owner, on_msg, on_down);
	if (stream_accept(listener, &l->s)) {
		l->down = true;
		stream_close(&l->s);
		return NULL;
	}
	l->up = true;
	stream_start(&l->s);
	return l;
}

size_t peerlink_begin(struct peer_link *l, int type)
{
	size_t off = jute_frame_begin(&l->s.out);
	buf_put_u8(&l->s.out, (uint8_t)type);
	return off;
}

void peerlink_end(struct peer_link *l, size_t off)
{
	jute_frame_end(&l->s.out, off);
	stream_mark_dirty(&l->s);
}

int peer_resolve(const char *host, int port, struct sockaddr_storage *addr)
{
	struct addrinfo hints, *res = NULL;
	char pbuf[16];

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(pbuf, sizeof(pbuf), "%d", port);
	int rc = getaddrinfo(host, pbuf, &hints, &res);
	if (rc || !res)
		return -EHOSTUNREACH;
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

int peer_listen(uv_loop_t *loop, uv_tcp_t *tcp, const char *host, int port, uv_connection_cb cb)
{
	struct sockaddr_storage addr;
	int rc;
	if ((rc = peer_resolve(host, port, &addr))) {
		log_error("peer", "cannot resolve %s", host);
		return rc;
	}
	uv_tcp_init(loop, tcp);
	if ((rc = uv_tcp_bind(tcp, (struct sockaddr *)&addr, 0)) ||
	    (rc = uv_listen((uv_stream_t *)tcp, 64, cb))) {
		log_err(rc, "peer", "listen on %s:%d", host, port);
		return rc;
	}
	return 0;
}
