/*
 * main.c - coordd: argv, configuration, signals, the event loop.
 *
 *   coordd [-c zoo.cfg]
 *
 * Runs in the foreground and logs to stderr (systemd style).  Without -c it
 * serves standalone on 127.0.0.1:2181 with its data in /var/lib/coordd.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultinject.h"
#include "log.h"
#include "server.h"
#include "txnlog.h"

static struct server srv;
static uv_signal_t sigterm, sigint;

static void usage(FILE *f)
{
	fprintf(f, "usage: coordd [-c CONFIG]\n"
		   "  -c, --config FILE   zoo.cfg-style configuration (default: standalone on\n"
		   "                      127.0.0.1:2181, data in /var/lib/coordd)\n"
		   "  -V, --version       print the version and exit\n"
		   "  -h, --help          this text\n");
}

static void on_signal(uv_signal_t *h, int sig)
{
	log_info("main", "signal %d: shutting down", sig);
	uv_signal_stop(&sigterm);
	uv_signal_stop(&sigint);
	server_stop(&srv);
	uv_stop(h->loop);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	const char *cfgfile = NULL;
	int c, rc;

	log_set_ident("coordd");
	config_defaults(&cfg);
	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfgfile = optarg;
			break;
		case 'V':
			printf("coordd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (cfgfile && config_load(&cfg, cfgfile))
		return 1;
	if (config_load_myid(&cfg))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)getpid() ^ (unsigned)server_now_ms());

	/* Tests only: COORD_FAULT_INJECT / COORD_FAULT_FILE arm injected I/O
	 * errors in the transaction log (faultinject.h); unset, a no-op. */
	if (faultinject_init() < 0)
		return 1;
	uv_loop_t *loop = uv_default_loop();
	if ((rc = server_init(&srv, loop, &cfg)) < 0) {
		log_err(rc, "main", "cannot start");
		return 1;
	}
	if (server_listen(&srv) < 0)
		return 1;
	uv_signal_init(loop, &sigterm);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_run(loop, UV_RUN_DEFAULT);
	/* Let in-flight writes and closes finish, then release the log. */
	uv_run(loop, UV_RUN_NOWAIT);
	txnlog_close(srv.log);
	log_info("main", "stopped at zxid 0x%llx", (unsigned long long)srv.dt.last_zxid);
	if (srv.reexec) {
		/* a replica that received a snapshot loads it like after a crash */
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			self[n] = 0;
			execv(self, argv); /* by its path, so ps and pkill still say coordd */
		}
		execv("/proc/self/exe", argv); /* the binary was replaced meanwhile */
		log_err(-errno, "main", "cannot restart %s", argv[0]);
		return 1;
	}
	return 0;
}
