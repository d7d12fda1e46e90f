/*
 * buf.h - a growable byte buffer.  Used for outgoing frames, encoded
 * transactions and snapshot records.  Buffers are reused (buf_reset keeps the
 * allocation) so the steady state allocates nothing per request.
 */
#ifndef COORD_BUF_H
#define COORD_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_free(struct buf *b);
/* Drop the first n bytes (consumed input), keeping the rest. */
void buf_consume(struct buf *b, size_t n);
static inline void buf_reset(struct buf *b) { b->len = 0; }

void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_be32(struct buf *b, uint32_t v);
void buf_put_be64(struct buf *b, uint64_t v);
/* Overwrite 4 bytes at off (used to patch a frame length after encoding). */
void buf_patch_be32(struct buf *b, size_t off, uint32_t v);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline uint32_t be32_get(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t be64_get(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)be32_get(b) << 32 | be32_get(b + 4);
}

static inline void be32_put(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static inline void be64_put(void *p, uint64_t v)
{
	be32_put(p, (uint32_t)(v >> 32));
	be32_put((uint8_t *)p + 4, (uint32_t)v);
}

#endif
