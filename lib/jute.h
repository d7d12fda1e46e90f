/*
 * jute.h - the jute binary encoding used by ZooKeeper: big-endian int and
 * long, one-byte booleans, length-prefixed buffers and strings (length -1
 * means null), vectors as a count followed by elements.
 *
 * Decoding never trusts the input: every getter checks the remaining length
 * and, on a short or malformed record, sets in->err = -EBADMSG and returns a
 * zero value, so a handler can decode a whole record and check err once.
 * Strings are copied, NUL-terminated, into a caller-supplied arena so the
 * decoder allocates nothing per request in the steady state.
 */
#ifndef COORD_JUTE_H
#define COORD_JUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "coord/zk.h"

/* A bump allocator reset after each request. */
struct arena {
	struct buf mem;
	struct arena_block *blocks; /* overflow blocks, freed on reset */
};

void arena_reset(struct arena *a);
void arena_free(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);

struct jute_in {
	const uint8_t *p;
	size_t len;
	size_t off;
	int err;
	struct arena *arena;
};

static inline void jute_in_init(struct jute_in *in, const void *p, size_t len, struct arena *a)
{
	in->p = p;
	in->len = len;
	in->off = 0;
	in->err = 0;
	in->arena = a;
}

static inline size_t jute_remaining(const struct jute_in *in) { return in->len - in->off; }

int32_t jute_get_int(struct jute_in *in);
int64_t jute_get_long(struct jute_in *in);
bool jute_get_bool(struct jute_in *in);
/* Returns a pointer into the input (not copied); *len is -1 for null. */
const char *jute_get_buffer(struct jute_in *in, int32_t *len);
/* Returns an arena copy, NUL-terminated; NULL for a null string. *len may be NULL. */
char *jute_get_string(struct jute_in *in, int32_t *len);
/* Reads a vector count, bounded by what the remaining bytes could hold. */
int32_t jute_get_count(struct jute_in *in, size_t min_elem_size);
void jute_get_stat(struct jute_in *in, struct zk_stat *st);

void jute_put_int(struct buf *b, int32_t v);
void jute_put_long(struct buf *b, int64_t v);
void jute_put_bool(struct buf *b, bool v);
void jute_put_buffer(struct buf *b, const void *p, int32_t len); /* len -1 = null */
void jute_put_string(struct buf *b, const char *s);               /* NULL = null */
void jute_put_stat(struct buf *b, const struct zk_stat *st);

/* Start a length-prefixed frame; jute_frame_end patches the length in. */
static inline size_t jute_frame_begin(struct buf *b)
{
	size_t off = b->len;
	buf_put_be32(b, 0);
	return off;
}

static inline void jute_frame_end(struct buf *b, size_t off)
{
	buf_patch_be32(b, off, (uint32_t)(b->len - off - 4));
}

#endif
