/*
 * fuzz_request.c - libFuzzer target for everything coordd decodes from a
 * client: frames, the connect handshake, every request body (reads, writes,
 * multi, setWatches, auth) and, through prep, the transactions it encodes
 * and applies.
 *
 * A real coordd server runs in this process on a loopback port with its data
 * in a temporary directory.  Each input is split into chunks ([u16 length]
 * [bytes]) that the harness sends as length-prefixed frames after a valid
 * ConnectRequest (so the fuzzer spends its effort on bodies, not on lengths);
 * an input starting with 0xff is sent raw instead, lengths and all.  The
 * server must answer or close, never crash or hang, and it must still answer
 * a well-formed request afterwards.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct server srv;
static struct config cfg;
static uv_loop_t *loop;
static int port;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* COORD_FUZZ_DIR lets the test script put the data on tmpfs and clean it up. */
	char tmpl[] = "/tmp/coordfuzzXXXXXX";
	char *dir = getenv("COORD_FUZZ_DIR");
	if (!dir)
		dir = mkdtemp(tmpl);
	log_set_ident("fuzz");
	log_min_level = LOG_LEVEL_ERROR;
	config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
	snprintf(cfg.fourlw_whitelist, sizeof(cfg.fourlw_whitelist), "*");
	cfg.client_port = 0;
	cfg.snap_count = 1000;
	cfg.extended_types = true;
	cfg.max_client_cnxns = 0;
	loop = uv_default_loop();
	if (server_init(&srv, loop, &cfg) < 0 || server_listen(&srv) < 0)
		abort();
	struct sockaddr_in a;
	int len = sizeof(a);
	uv_tcp_getsockname(&srv.listener, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

/* Runs the server loop until the client socket has nothing more to read. */
static void pump(int fd, bool until_closed)
{
	char buf[65536];
	for (int idle = 0; idle < 3;) {
		uv_run(loop, UV_RUN_NOWAIT);
		/* Wake on the client socket or on any event the server loop waits for. */
		struct pollfd p[2] = { { fd, POLLIN, 0 }, { uv_backend_fd(loop), POLLIN, 0 } };
		poll(p, 2, 1);
		if (p[0].revents) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				return;
			idle = 0;
		} else if (!until_closed || srv.npending == 0) {
			idle++;
		}
	}
}

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS)
		abort();
	uv_run(loop, UV_RUN_NOWAIT);
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EAGAIN) {
			uv_run(loop, UV_RUN_NOWAIT);
			continue;
		}
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

/*
 * One session is reused across inputs (reattached with its id and password),
 * so an input costs no createSession transaction and no fsync; an input that
 * closed it makes the next one start a new session.
 */
static uint8_t sess_id[8], sess_pw[16];
static bool have_session;

/* Reads one length-prefixed frame while running the server loop. */
static ssize_t read_frame(int fd, uint8_t *buf, size_t max)
{
	size_t got = 0, want = 4;
	for (int spins = 0; spins < 20000 && got < want; spins++) {
		uv_run(loop, UV_RUN_NOWAIT);
		ssize_t n = read(fd, buf + got, want - got);
		if (n == 0)
			return -1;
		if (n < 0) {
			struct pollfd p[2] = { { fd, POLLIN, 0 }, { uv_backend_fd(loop), POLLIN, 0 } };
			poll(p, 2, 1);
			continue;
		}
		got += (size_t)n;
		if (got == 4) {
			want = 4 + ((size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3]);
			if (want > max)
				return -1;
		}
	}
	return got == want ? (ssize_t)got : -1;
}

static int session_connect(void)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = dial();
		/* ConnectRequest: protocol 0, lastZxidSeen 0, timeout 4000, session, password, readOnly */
		uint8_t conn[4 + 4 + 8 + 4 + 8 + 4 + 16 + 1] = { 0 };
		put32(conn, sizeof(conn) - 4);
		put32(conn + 16, 4000);
		if (have_session)
			memcpy(conn + 20, sess_id, 8);
		put32(conn + 28, 16);
		if (have_session)
			memcpy(conn + 32, sess_pw, 16);
		send_all(fd, conn, sizeof(conn));
		uint8_t rsp[64];
		ssize_t n = read_frame(fd, rsp, sizeof(rsp));
		/* ConnectResponse: protocol, timeout, session id, password (4 + 16), readOnly */
		if (n >= 4 + 4 + 4 + 8 + 4 + 16 && (rsp[8] | rsp[9] | rsp[10] | rsp[11])) {
			memcpy(sess_id, rsp + 12, 8);
			memcpy(sess_pw, rsp + 24, 16);
			have_session = true;
			return fd;
		}
		close(fd);
		have_session = false; /* closed or expired: start a new one */
	}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd;
	if (size && data[0] == 0xff) {
		fd = dial();
		send_all(fd, data + 1, size - 1);
	} else {
		fd = session_connect();
		if (fd < 0)
			abort(); /* a healthy server always grants a session */
		size_t off = 0;
		uint8_t *frame = malloc(65536 + 4);
		while (off + 2 <= size) {
			size_t n = (size_t)data[off] << 8 | data[off + 1];
			off += 2;
			if (n > size - off)
				n = size - off;
			put32(frame, (uint32_t)n);
			memcpy(frame + 4, data + off, n);
			send_all(fd, frame, n + 4);
			off += n;
		}
		free(frame);
	}
	shutdown(fd, SHUT_WR);
	pump(fd, true);
	close(fd);
	uv_run(loop, UV_RUN_NOWAIT);
	/* The server must still be healthy: a four-letter word gets its answer. */
	fd = dial();
	send_all(fd, "ruok", 4);
	char buf[8] = { 0 };
	size_t got = 0;
	for (int i = 0; i < 2000 && got < 4; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			break;
		else {
			struct pollfd p[2] = { { fd, POLLIN, 0 }, { uv_backend_fd(loop), POLLIN, 0 } };
			poll(p, 2, 1);
		}
	}
	if (memcmp(buf, "imok", 4) != 0) {
		fprintf(stderr, "server stopped answering ruok\n");
		abort();
	}
	close(fd);
	uv_run(loop, UV_RUN_NOWAIT);
	return 0;
}
