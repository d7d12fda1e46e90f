/*
 * peerlink.h - a framed message link between two replicas, over lib/stream
 * (so TLS on peer links slots in there too).
 *
 * Frame: u32 length of what follows | u8 message type | body (jute
 * primitives).  A link is either dialled (peerlink_dial: with a connect
 * timeout, since a partitioned peer never answers a SYN) or accepted from a
 * listener.  The owner gets every complete frame through on_msg and exactly
 * one on_down when the link dies (EOF, error, bad frame, connect failure or
 * peerlink_close); after on_down the link is freed by this module once its
 * handle is closed, so the owner must drop its pointer in on_down.
 */
#ifndef COORD_PEERLINK_H
#define COORD_PEERLINK_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "jute.h"
#include "stream.h"

/* The biggest frame a peer may send: a txn is at most jute.maxbuffer plus
 * framing, a snapshot record at most a znode; 128 MiB leaves room. */
#define PEER_MAX_FRAME (128u << 20)

struct peer_link;
typedef void (*peer_msg_cb)(struct peer_link *l, int type, struct jute_in *in);
typedef void (*peer_link_cb)(struct peer_link *l);

struct peer_link {
	struct stream s;
	uv_timer_t timer; /* connect timeout */
	bool up;          /* connected (dialled links) */
	bool down;        /* on_down delivered; nothing more will be */
	bool in_cb;       /* inside on_msg: close is deferred to its end */
	bool close_req;
	int sid;          /* the peer's server id, when known */
	peer_link_cb on_up;
	peer_msg_cb on_msg;
	peer_link_cb on_down;
	void *owner;
	struct arena arena; /* for decoding one frame; reset after each */
};

/* Dial addr; on_up runs when connected, on_down if it fails or times out. */
struct peer_link *peerlink_dial(uv_loop_t *loop, const struct sockaddr *addr, int timeout_ms,
				void *owner, peer_link_cb on_up, peer_msg_cb on_msg,
				peer_link_cb on_down);
/* Accept a pending connection of listener; NULL if that failed. */
struct peer_link *peerlink_accept(uv_stream_t *listener, void *owner, peer_msg_cb on_msg,
				  peer_link_cb on_down);
/* Close; on_down is still delivered (at once, unless inside on_msg). */
void peerlink_close(struct peer_link *l);

/* Start a message: returns the frame offset for peerlink_end. */
size_t peerlink_begin(struct peer_link *l, int type);
void peerlink_end(struct peer_link *l, size_t off);
static inline struct buf *peerlink_out(struct peer_link *l) { return &l->s.out; }

/* Bind and listen on host:port (a replica's election or quorum port). */
int peer_listen(uv_loop_t *loop, uv_tcp_t *tcp, const char *host, int port, uv_connection_cb cb);

/* Resolve "host" + port into addr (numeric or a name via getaddrinfo). */
int peer_resolve(const char *host, int port, struct sockaddr_storage *addr);

#endif
