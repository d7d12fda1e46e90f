/*
 * cmd_status.c - "status [-v]": asks every server of the list for the
 * four-letter word srvr, all at once, and prints one line per server in
 * list order:
 *
 *   127.0.0.1:2181  standalone   zxid 0x1f  connections 3  latency 0/0.1/4 ms
 *   127.0.0.1:2182  not serving
 *   127.0.0.1:2183  unreachable (connection refused)
 *
 * -v adds every line of each answer, indented, and a count at the end.
 * Exit code: 0 if a quorum (a majority of the servers listed) serves, that
 * is answers with Mode leader, follower or standalone; 1 if some server
 * could be reached but no quorum serves; 4 if none could.  No session
 * is made, so status works when the ensemble cannot take one.
 *
 * Each server gets one probe: getaddrinfo (names only), connect, write
 * "srvr", read to EOF, all under one timer of -t milliseconds.  A probe is
 * finished when its result is known and all of its handles are closed.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordctl.h"
#include "xalloc.h"

#define MAX_ANSWER (64 * 1024)

struct probe {
	char *name;                /* as listed */
	char *host;
	char port[8];
	int timeout_ms;
	uv_getaddrinfo_t gai;
	uv_connect_t connect;
	uv_write_t write;
	uv_tcp_t tcp;
	uv_timer_t timer;
	bool resolving;
	bool tcp_open;
	bool connected;            /* the TCP connection was made */
	bool done;                 /* the result is known */
	int nopen;                 /* handles not yet closed */
	int err;                   /* libuv error when unreachable */
	bool timed_out;
	char *answer;
	size_t len;
};

static void handle_closed(uv_handle_t *h)
{
	struct probe *p = h->data;
	p->nopen--;
}

/* The result is known: stop the timer and close the connection. */
static void finish(struct probe *p)
{
	if (p->done)
		return;
	p->done = true;
	uv_timer_stop(&p->timer);
	if (p->tcp_open) {
		p->tcp_open = false;
		uv_close((uv_handle_t *)&p->tcp, handle_closed);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct probe *p = h->data;
	(void)suggested;
	size_t room = MAX_ANSWER - p->len;
	buf->base = room ? p->answer + p->len : NULL;
	buf->len = room;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct probe *p = s->data;
	(void)buf;
	if (n > 0) {
		p->len += (size_t)n;
		if (p->len >= MAX_ANSWER)
			finish(p);
		return;
	}
	if (n < 0) {
		if (n != UV_EOF && p->len == 0)
			p->err = (int)n;
		finish(p);
	}
}

static void on_write(uv_write_t *w, int status)
{
	struct probe *p = w->data;
	if (status < 0 && !p->done) {
		p->err = status;
		finish(p);
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	struct probe *p = req->data;
	if (p->done)
		return;
	if (status < 0) {
		p->err = status;
		finish(p);
		return;
	}
	p->connected = true;
	static char cmd[] = "srvr";
	uv_buf_t b = uv_buf_init(cmd, 4);
	p->write.data = p;
	uv_write(&p->write, (uv_stream_t *)&p->tcp, &b, 1, on_write);
	uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
	struct probe *p = req->data;
	p->resolving = false;
	p->nopen--;
	if (p->done) {
		uv_freeaddrinfo(ai);
		return;
	}
	if (status < 0) {
		p->err = status;
		uv_freeaddrinfo(ai);
		finish(p);
		return;
	}
	uv_tcp_init(req->loop, &p->tcp);
	p->tcp.data = p;
	p->tcp_open = true;
	p->nopen++;
	p->connect.data = p;
	int err = uv_tcp_connect(&p->connect, &p->tcp, ai->ai_addr, on_connect);
	uv_freeaddrinfo(ai);
	if (err < 0) {
		p->err = err;
		finish(p);
	}
}

static void on_timeout(uv_timer_t *t)
{
	struct probe *p = t->data;
	p->timed_out = true;
	if (p->resolving)
		uv_cancel((uv_req_t *)&p->gai);
	finish(p);
}

/* "host:port", "[v6addr]:port" or "host" (port 2181), as zkclient reads them. */
static bool parse_server(struct probe *p, const char *tok, size_t n)
{
	char *buf = xstrndup(tok, n);
	char *host = buf, *port = NULL;
	bool ok = !strchr(buf, '/');
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		ok = ok && close && (!close[1] || close[1] == ':');
		if (ok) {
			*close = 0;
			host = buf + 1;
			port = close[1] ? close + 2 : NULL;
		}
	} else {
		char *colon = strrchr(buf, ':');
		ok = ok && (!colon || strchr(buf, ':') == colon);
		if (ok && colon) {
			*colon = 0;
			port = colon + 1;
		}
	}
	long pn = 2181;
	if (ok && port) {
		char *end;
		pn = strtol(port, &end, 10);
		ok = *port && !*end && pn > 0 && pn <= 65535;
	}
	ok = ok && *host;
	if (ok) {
		p->name = xstrndup(tok, n);
		p->host = xstrdup(host);
		snprintf(p->port, sizeof(p->port), "%ld", pn);
	}
	free(buf);
	return ok;
}

/* The value of "Key: value" in the answer, or NULL; out gets a copy. */
static const char *field(const struct probe *p, const char *key, char *out, size_t n)
{
	size_t kl = strlen(key);
	for (const char *l = p->answer; l && *l;) {
		const char *eol = strchr(l, '\n');
		size_t ll = eol ? (size_t)(eol - l) : strlen(l);
		if (ll > kl + 1 && !strncmp(l, key, kl) && l[kl] == ':') {
			const char *v = l + kl + 1;
			while (*v == ' ')
				v++;
			size_t vl = (size_t)(l + ll - v);
			if (vl >= n)
				vl = n - 1;
			memcpy(out, v, vl);
			out[vl] = 0;
			return out;
		}
		l = eol ? eol + 1 : NULL;
	}
	return NULL;
}

/* Prints p's line; returns whether it serves. */
static bool report(const struct probe *p, int width, bool verbose)
{
	char mode[64], zxid[64], conns[64], lat[128];
	bool serving = false;
	ctl_printf("%-*s  ", width, p->name);
	if (p->len == 0 && p->connected) {
		if (p->timed_out)
			ctl_printf("no answer to srvr within %d ms\n", p->timeout_ms);
		else
			ctl_printf("closed the connection without an answer to srvr\n");
		return false;
	}
	if (p->len == 0) {
		if (p->timed_out)
			ctl_printf("unreachable (no answer within %d ms)\n", p->timeout_ms);
		else
			ctl_printf("unreachable (%s)\n", p->err ? uv_strerror(p->err) : "closed");
		return false;
	}
	if (field(p, "Mode", mode, sizeof(mode))) {
		serving = !strcmp(mode, "leader") || !strcmp(mode, "follower") ||
			  !strcmp(mode, "standalone");
		ctl_printf("%-11s zxid %s  connections %s  latency %s ms\n", mode,
			   field(p, "Zxid", zxid, sizeof(zxid)) ? zxid : "?",
			   field(p, "Connections", conns, sizeof(conns)) ? conns : "?",
			   field(p, "Latency min/avg/max", lat, sizeof(lat)) ? lat : "?");
	} else if (strstr(p->answer, "not currently serving")) {
		ctl_printf("not serving\n");
	} else if (strstr(p->answer, "not in the whitelist")) {
		ctl_printf("srvr refused (not in 4lw.commands.whitelist)\n");
	} else {
		ctl_printf("unknown answer\n");
	}
	if (verbose) {
		for (const char *l = p->answer; *l;) {
			size_t ll = strcspn(l, "\n");
			ctl_printf("    %.*s\n", (int)ll, l);
			l += ll;
			if (*l)
				l++;
		}
	}
	return serving;
}

int cmd_status(struct ctl *c, int argc, char **argv)
{
	static const char syn[] = "status [-v]";
	bool verbose = false;
	int o;
	while ((o = ctl_getopt(c, argc, argv, "v", NULL)) != -1) {
		if (o != 'v')
			return ctl_usage(syn);
		verbose = true;
	}
	if (optind != argc)
		return ctl_usage(syn);

	int cap = 1;
	for (const char *s = c->servers; *s; s++)
		cap += *s == ',';
	struct probe *ps = xcalloc((size_t)cap, sizeof(*ps));
	int n = 0, width = 0;
	for (const char *s = c->servers;;) {
		s += strspn(s, " \t");
		size_t len = strcspn(s, ","), t = len;
		while (t && (s[t - 1] == ' ' || s[t - 1] == '\t'))
			t--;
		if (t) {
			if (!parse_server(&ps[n], s, t)) {
				ctl_msg("status: bad server '%.*s' in '%s'", (int)t, s, c->servers);
				for (int i = 0; i < n; i++) {
					free(ps[i].name);
					free(ps[i].host);
				}
				free(ps);
				return CTL_USAGE;
			}
			if ((int)t > width)
				width = (int)t;
			n++;
		}
		if (!s[len])
			break;
		s += len + 1;
	}
	if (n == 0) {
		free(ps);
		ctl_msg("status: no servers in '%s'", c->servers);
		return CTL_USAGE;
	}

	for (int i = 0; i < n; i++) {
		struct probe *p = &ps[i];
		p->timeout_ms = c->timeout_ms;
		p->answer = xmalloc(MAX_ANSWER + 1);
		uv_timer_init(c->loop, &p->timer);
		p->timer.data = p;
		p->nopen = 1;
		uv_timer_start(&p->timer, on_timeout, (uint64_t)c->timeout_ms, 0);
		struct addrinfo hints;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		p->gai.data = p;
		p->resolving = true;
		p->nopen++;
		int err = uv_getaddrinfo(c->loop, &p->gai, on_resolved, p->host, p->port, &hints);
		if (err < 0) {
			p->resolving = false;
			p->nopen--;
			p->err = err;
			finish(p);
		}
	}
	for (;;) {
		bool all = true;
		for (int i = 0; i < n; i++)
			all = all && ps[i].done;
		if (all)
			break;
		uv_run(c->loop, UV_RUN_ONCE);
	}

	int serving = 0, answered = 0;
	for (int i = 0; i < n; i++) {
		ps[i].answer[ps[i].len] = 0;
		answered += ps[i].connected;
		serving += report(&ps[i], width, verbose);
	}
	int quorum = n / 2 + 1;
	if (verbose)
		ctl_printf("%d of %d serving; a quorum is %d\n", serving, n, quorum);

	/* Release: every handle closed (a cancelled getaddrinfo reports too). */
	for (int i = 0; i < n; i++)
		uv_close((uv_handle_t *)&ps[i].timer, handle_closed);
	for (;;) {
		bool open = false;
		for (int i = 0; i < n; i++)
			open = open || ps[i].nopen > 0;
		if (!open)
			break;
		uv_run(c->loop, UV_RUN_ONCE);
	}
	for (int i = 0; i < n; i++) {
		free(ps[i].name);
		free(ps[i].host);
		free(ps[i].answer);
	}
	free(ps);
	if (serving >= quorum)
		return CTL_OK;
	return answered ? CTL_NO : CTL_CONN;
}
