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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = dial();
	if (size && data[0] == 0xff) {
		send_all(fd, data + 1, size - 1);
	} else {
		/* ConnectRequest: protocol 0, lastZxidSeen 0, timeout 4000, session 0, 16-byte password, readOnly */
		uint8_t conn[4 + 4 + 8 + 4 + 8 + 4 + 16 + 1] = { 0 };
		put32(conn, sizeof(conn) - 4);
		put32(conn + 16, 4000);
		put32(conn + 28, 16);
		send_all(fd, conn, sizeof(conn));
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
