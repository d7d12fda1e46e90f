/*
 * zkclient_proto.h - private to the ZooKeeper client.  The client is two
 * files split by concern: zkclient.c keeps the session (connections, states,
 * queues, timers, the watch registry); zkclient_proto.c turns API calls into
 * requests and replies into results (argument checks, encoders, the multi
 * builder, the reply decoder).  The checks and codecs below are pure
 * functions; the zkc_req_* calls at the end are the only way the request
 * functions reach the session.
 */
#ifndef COORD_ZKCLIENT_PROTO_H
#define COORD_ZKCLIENT_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "jute.h"
#include "zkclient.h"

#define ZKC_PASSWD_LEN 16
/*
 * Largest data payload accepted from the caller.  The server enforces its own
 * jute.maxbuffer; this only keeps frame lengths far from int32 overflow.
 */
#define ZKC_MAX_DATA (64 << 20)

/* The builder behind struct zkc_multi: the encoded ops, without the end marker. */
struct zkc_multi {
	struct buf body;
	int32_t nops;
	int err; /* first invalid argument (-EINVAL), reported by zkc_multi_submit */
};

/* ZooKeeper's PathUtils.validatePath: 0 or -EINVAL. */
int zkc_proto_check_path(const char *path, bool sequential);
/* data/len as the API takes them (NULL,-1 = null; len 0 = empty): 0 or -EINVAL/-EMSGSIZE. */
int zkc_proto_check_data(const void *data, int32_t len);
/* NULL acl means world:anyone ALL; otherwise every entry needs scheme and id. */
int zkc_proto_check_acl(const struct zkc_acl *acl, int nacl);
/*
 * Checks a create: flags is a ZCM_* mode, TTL modes need 0 < ttl <=
 * ZK_TTL_MAX and the others ttl 0, and path must be valid for the mode.
 */
int zkc_proto_check_create(const char *path, int flags, int64_t ttl);
/* The opcode for a create in this mode: create2, createContainer or createTTL. */
int32_t zkc_proto_create_op(int flags);

void zkc_proto_put_acl(struct buf *b, const struct zkc_acl *acl, int nacl);
void zkc_proto_put_data(struct buf *b, const void *data, int32_t len);

/*
 * Starts a request frame: length placeholder, xid (patched when sent) and
 * opcode.  Returns the offset to pass to jute_frame_end().
 */
size_t zkc_proto_begin(struct buf *b, int32_t xid, int32_t op);
/* Offset of the xid inside a frame started at 0 (patched at send time). */
#define ZKC_XID_OFF 4

/* ConnectRequest, framed. */
void zkc_proto_put_connect(struct buf *b, int64_t last_zxid, int32_t timeout, int64_t sid,
			   const uint8_t *passwd, bool read_only);

/*
 * Decodes the body of a reply to a request of type op (nops: ops in a multi)
 * into res, whose strings and arrays live in in->arena or point into the
 * frame.  res->rc must already hold the header's error; for a multi whose
 * header says ZOK it becomes the first failing op's error.  Returns 0 or
 * -EBADMSG for a malformed body.
 */
int zkc_proto_decode(int32_t op, int32_t nops, struct jute_in *in, struct zkc_result *res,
		     struct zk_stat *st);

/* ---- provided by zkclient.c to the request functions ---- */

struct zkc_req;
/*
 * Starts a request of type op, header written (the xid is patched when it
 * is sent), or returns NULL once zkc_close() was called.  The body goes into
 * zkc_req_frame(r); zkc_req_submit() then sends or queues r and owns it.
 */
struct zkc_req *zkc_req_start(struct zkclient *zk, int32_t op, int32_t xid, zkc_cb cb, void *arg);
struct buf *zkc_req_frame(struct zkc_req *r);
/* Appends path; with watch, a successful reply records a watch on it. */
void zkc_req_path(struct zkc_req *r, const char *path, bool watch);
/* multi: the number of ops; addWatch: the mode. */
void zkc_req_set_aux(struct zkc_req *r, int32_t aux);
/* Returns 0 (the callback will run) or -ESHUTDOWN. */
int zkc_req_submit(struct zkclient *zk, struct zkc_req *r);

#endif
