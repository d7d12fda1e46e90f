#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

static void *check(void *p, size_t n)
{
	if (!p && n)
		log_fatal("alloc", "out of memory allocating %zu bytes", n);
	return p;
}

void *xmalloc(size_t n) { return check(malloc(n ? n : 1), n); }
void *xcalloc(size_t n, size_t size) { return check(calloc(n ? n : 1, size ? size : 1), n * size); }
void *xrealloc(void *p, size_t n) { return check(realloc(p, n ? n : 1), n); }
char *xstrdup(const char *s) { return xmemdup(s, strlen(s) + 1); }

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

void *xmemdup(const void *p, size_t n)
{
	void *q = xmalloc(n);
	if (n)
		memcpy(q, p, n);
	return q;
}
