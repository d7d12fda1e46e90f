/*
 * xalloc.h - allocation that aborts with a log line on OOM (redis zmalloc).
 * Use it for small internal allocations; sizes a client controls are bounded
 * by the caller first (jute.maxbuffer) and may be refused with -ENOMEM.
 */
#ifndef COORD_XALLOC_H
#define COORD_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#endif
