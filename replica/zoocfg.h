/*
 * zoocfg.h - coordd's configuration, read from a file in ZooKeeper's zoo.cfg
 * syntax (key=value lines, '#' comments).  Keys that ZooKeeper takes as Java
 * system properties (jute.maxbuffer, zookeeper.extendedTypesEnabled,
 * zookeeper.DigestAuthenticationProvider.superDigest, znode.container.*) are
 * accepted as plain keys too, with or without the "zookeeper." prefix.
 */
#ifndef COORD_ZOOCFG_H
#define COORD_ZOOCFG_H

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_MAX_SERVERS 16

struct config_server {
	int id;
	char host[256];
	int quorum_port;
	int election_port;
};

struct config {
	int tick_time;
	int init_limit;
	int sync_limit;
	char data_dir[1024];
	char data_log_dir[1024];
	int client_port;
	char client_addr[256];
	int max_client_cnxns;
	int min_session_timeout;
	int max_session_timeout;
	int snap_count;
	int autopurge_retain;
	int autopurge_interval_hours;
	char fourlw_whitelist[1024];
	bool extended_types;
	bool skip_acl;
	bool force_sync;
	char super_digest[256];
	int jute_maxbuffer;
	int container_check_ms;
	int container_max_per_minute;
	int global_outstanding_limit;
	int commit_log_count; /* txns a leader keeps in memory for DIFF syncs */
	int commit_log_bytes;
	int myid;
	int nservers;
	struct config_server servers[CONFIG_MAX_SERVERS];
	char path[1024]; /* the file read, for "conf" */
};

void config_defaults(struct config *c);
/* Returns 0, or -errno / -EINVAL with a log line naming file:line. */
int config_load(struct config *c, const char *path);
/* Reads dataDir/myid if present. */
int config_load_myid(struct config *c);
bool config_4lw_allowed(const struct config *c, const char *cmd);

#endif
