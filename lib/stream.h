/*
 * stream.h - one TCP connection's byte I/O on libuv: buffered input,
 * batched output, orderly close.  Every network peer of the project
 * (ZooKeeper clients of coordd, later quorum peers, and the client side in
 * coordfs/coordctl) talks through this module, so TLS can slot in here
 * without touching protocol code.
 *
 * Output is gathered in s->out and handed to the kernel once per loop
 * iteration by stream_flush_all() (called from a uv_prepare handle): many
 * replies, one write.  At most one uv_write is in flight per stream; its
 * bytes live in s->inflight until the callback.
 *
 * Ownership: the stream is embedded in its owner.  After stream_close(),
 * on_close is called once the handle is closed; only then may the owner free
 * the memory.
 */
#ifndef COORD_STREAM_H
#define COORD_STREAM_H

#include <stdbool.h>
#include <uv.h>

#include "buf.h"

struct stream;
typedef void (*stream_cb)(struct stream *s);
typedef void (*stream_status_cb)(struct stream *s, int status);

struct stream {
	uv_tcp_t tcp;
	struct buf in;
	size_t in_off; /* bytes of in already consumed */
	struct buf out;
	struct buf inflight;
	uv_write_t wreq;
	bool writing;
	bool reading;
	bool closing;
	bool close_after_flush;
	bool dirty;
	struct stream *dirty_next;
	uv_connect_t creq;           /* client side only: stream_connect() */
	stream_status_cb on_connect;
	stream_cb on_read;           /* new bytes in s->in */
	stream_status_cb on_eof;     /* peer closed or error (status < 0 or UV_EOF) */
	stream_cb on_drain;          /* a write completed; may be NULL */
	stream_cb on_close;          /* handle closed, memory may be freed */
	void *data;
	char peer[64];               /* "ip:port" */
	char peer_ip[48];
};

int stream_accept(uv_stream_t *server, struct stream *s);
/*
 * The client side: starts a TCP connect to addr.  cb runs once with status 0
 * (connected; peer is filled in, nodelay set) or a negative libuv error,
 * unless stream_close() comes first, in which case it never runs.  The owner
 * sets on_read/on_eof/on_close beforehand and calls stream_start() in cb.
 *
 * Returns 0 or -errno.  On an error, s->closing says whether the handle
 * existed: if true it has been closed and on_close follows as usual; if
 * false nothing was created and s may be freed at once.
 */
int stream_connect(uv_loop_t *loop, struct stream *s, const struct sockaddr *addr,
		   stream_status_cb cb);
void stream_start(struct stream *s);
void stream_pause(struct stream *s);
/* Marks s as having output; the next stream_flush_all() writes it. */
void stream_mark_dirty(struct stream *s);
void stream_write(struct stream *s, const void *p, size_t n);
/* Writes all dirty streams (one uv_write each). */
void stream_flush_all(void);
/* True if some stream has output waiting for stream_flush_all(). */
bool stream_pending_output(void);
/* Closes now; pending output is dropped. */
void stream_close(struct stream *s);
/* Closes once everything queued so far has been written. */
void stream_close_after_flush(struct stream *s);
/* Bytes queued but not yet acknowledged by the kernel. */
static inline size_t stream_backlog(const struct stream *s) { return s->out.len + s->inflight.len; }

#endif
