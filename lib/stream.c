/*
 * stream.c - see stream.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "stream.h"
#include "xalloc.h"

static struct stream *dirty_head;

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct stream *s = container_of((uv_tcp_t *)h, struct stream, tcp);
	(void)suggested;
	/* Compact consumed input before growing. */
	if (s->in_off) {
		buf_consume(&s->in, s->in_off);
		s->in_off = 0;
	}
	buf_reserve(&s->in, 64 * 1024);
	b->base = s->in.data + s->in.len;
	b->len = s->in.cap - s->in.len;
}

static void read_cb(uv_stream_t *h, ssize_t n, const uv_buf_t *b)
{
	struct stream *s = container_of((uv_tcp_t *)h, struct stream, tcp);
	(void)b;
	if (s->closing)
		return;
	if (n < 0) {
		s->on_eof(s, (int)n);
		return;
	}
	if (n == 0)
		return;
	s->in.len += (size_t)n;
	s->on_read(s);
}

static void fill_peer(struct stream *s)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	s->peer[0] = s->peer_ip[0] = 0;
	if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len))
		return;
	int port = 0;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		uv_ip4_name(a, s->peer_ip, sizeof(s->peer_ip));
		port = ntohs(a->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		uv_ip6_name(a, s->peer_ip, sizeof(s->peer_ip));
		port = ntohs(a->sin6_port);
	}
	snprintf(s->peer, sizeof(s->peer), "%s:%d", s->peer_ip, port);
}

int stream_accept(uv_stream_t *server, struct stream *s)
{
	int rc = uv_tcp_init(server->loop, &s->tcp);
	if (rc)
		return rc;
	rc = uv_accept(server, (uv_stream_t *)&s->tcp);
	if (rc)
		return rc;
	uv_tcp_nodelay(&s->tcp, 1);
	fill_peer(s);
	return 0;
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct stream *s = container_of(req, struct stream, creq);
	stream_status_cb cb = s->on_connect;

	s->on_connect = NULL;
	/* uv_close() cancels a pending connect; the owner has already let go. */
	if (s->closing || !cb)
		return;
	if (status == 0) {
		uv_tcp_nodelay(&s->tcp, 1);
		fill_peer(s);
	}
	cb(s, status);
}

int stream_connect(uv_loop_t *loop, struct stream *s, const struct sockaddr *addr,
		   stream_status_cb cb)
{
	int rc = uv_tcp_init(loop, &s->tcp);
	if (rc)
		return rc;
	s->on_connect = cb;
	rc = uv_tcp_connect(&s->creq, &s->tcp, addr, connect_cb);
	if (rc) {
		/* The handle exists now: release it the usual way, via on_close. */
		s->on_connect = NULL;
		stream_close(s);
	}
	return rc;
}

void stream_start(struct stream *s)
{
	if (s->reading || s->closing)
		return;
	if (uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb) == 0)
		s->reading = true;
}

void stream_pause(struct stream *s)
{
	if (!s->reading)
		return;
	uv_read_stop((uv_stream_t *)&s->tcp);
	s->reading = false;
}

void stream_mark_dirty(struct stream *s)
{
	if (s->dirty || s->closing)
		return;
	s->dirty = true;
	s->dirty_next = dirty_head;
	dirty_head = s;
}

void stream_write(struct stream *s, const void *p, size_t n)
{
	if (s->closing)
		return;
	buf_append(&s->out, p, n);
	stream_mark_dirty(s);
}

static void close_cb(uv_handle_t *h)
{
	struct stream *s = container_of((uv_tcp_t *)h, struct stream, tcp);
	buf_free(&s->in);
	buf_free(&s->out);
	buf_free(&s->inflight);
	s->on_close(s);
}

static void unlink_dirty(struct stream *s)
{
	if (!s->dirty)
		return;
	struct stream **pp = &dirty_head;
	while (*pp && *pp != s)
		pp = &(*pp)->dirty_next;
	if (*pp)
		*pp = s->dirty_next;
	s->dirty = false;
}

void stream_close(struct stream *s)
{
	if (s->closing)
		return;
	s->closing = true;
	unlink_dirty(s);
	stream_pause(s);
	uv_close((uv_handle_t *)&s->tcp, close_cb);
}

static void start_write(struct stream *s);

static void write_cb(uv_write_t *req, int status)
{
	struct stream *s = container_of(req, struct stream, wreq);
	s->writing = false;
	s->inflight.len = 0;
	if (s->closing)
		return;
	if (status < 0) {
		s->on_eof(s, status);
		return;
	}
	if (s->out.len) {
		start_write(s);
	} else if (s->close_after_flush) {
		stream_close(s);
		return;
	}
	if (s->on_drain)
		s->on_drain(s);
}

static void start_write(struct stream *s)
{
	if (s->writing || s->closing || !s->out.len)
		return;
	/* Try the fast path first: most replies fit in the socket buffer. */
	uv_buf_t b = uv_buf_init(s->out.data, (unsigned)s->out.len);
	int n = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
	if (n > 0)
		buf_consume(&s->out, (size_t)n);
	if (!s->out.len) {
		if (s->close_after_flush)
			stream_close(s);
		return;
	}
	if (n < 0 && n != UV_EAGAIN) {
		s->on_eof(s, n);
		return;
	}
	struct buf tmp = s->inflight;
	s->inflight = s->out;
	s->out = tmp;
	s->out.len = 0;
	b = uv_buf_init(s->inflight.data, (unsigned)s->inflight.len);
	s->writing = true;
	int rc = uv_write(&s->wreq, (uv_stream_t *)&s->tcp, &b, 1, write_cb);
	if (rc) {
		s->writing = false;
		s->on_eof(s, rc);
	}
}

void stream_flush_all(void)
{
	while (dirty_head) {
		struct stream *s = dirty_head;
		dirty_head = s->dirty_next;
		s->dirty = false;
		start_write(s);
	}
}

bool stream_pending_output(void)
{
	return dirty_head != NULL;
}

void stream_close_after_flush(struct stream *s)
{
	if (s->closing)
		return;
	s->close_after_flush = true;
	stream_pause(s);
	if (!s->writing && !s->out.len)
		stream_close(s);
	else
		stream_mark_dirty(s);
}
