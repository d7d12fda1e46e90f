/*
 * zkpath.c - ZooKeeper's path rules (PathUtils.validatePath), shared by the
 * server, which enforces them, and the mount, which maps file names to znode
 * names and must refuse what the server would.
 */
#include "config.h"

#include <string.h>

#include "coord/zk.h"
#include "zkpath.h"

void path_parent(const char *path, char *out)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	if (n == 0) {
		strcpy(out, "/");
		return;
	}
	memcpy(out, path, n);
	out[n] = 0;
}

/* Decodes one UTF-8 sequence; returns its length or 0 if malformed. */
static int utf8_decode(const unsigned char *s, size_t left, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	int n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (!n || (size_t)n > left)
		return 0;
	uint32_t c = s[0] & (0x7f >> n);
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	*cp = c;
	return n;
}

int path_validate(const char *path, int32_t len)
{
	if (!path || len <= 0 || path[0] != '/')
		return ZBADARGUMENTS;
	if ((size_t)len != strlen(path))
		return ZBADARGUMENTS; /* embedded NUL */
	if (len == 1)
		return ZOK;
	if (path[len - 1] == '/')
		return ZBADARGUMENTS;
	const unsigned char *s = (const unsigned char *)path;
	for (int32_t i = 1; i < len;) {
		uint32_t c;
		if (s[i] == '/' && s[i - 1] == '/')
			return ZBADARGUMENTS; /* empty node name */
		if (s[i] == '.' && s[i - 1] == '/') {
			/* "." and ".." are not allowed as names */
			if (i + 1 == len || s[i + 1] == '/')
				return ZBADARGUMENTS;
			if (s[i + 1] == '.' && (i + 2 == len || s[i + 2] == '/'))
				return ZBADARGUMENTS;
		}
		int n = utf8_decode(s + i, (size_t)(len - i), &c);
		if (!n)
			return ZBADARGUMENTS;
		/* The ranges PathUtils rejects as invalid characters. */
		if ((c > 0 && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) ||
		    (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff))
			return ZBADARGUMENTS;
		i += n;
	}
	return ZOK;
}
