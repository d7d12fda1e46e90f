/*
 * zoocfg.c - see zoocfg.h.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "zoocfg.h"

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->tick_time = 2000;
	c->init_limit = 10;
	c->sync_limit = 5;
	snprintf(c->data_dir, sizeof(c->data_dir), "%s", "/var/lib/coordd");
	c->client_port = 2181;
	snprintf(c->client_addr, sizeof(c->client_addr), "%s", "127.0.0.1");
	c->max_client_cnxns = 60;
	c->snap_count = 100000;
	c->autopurge_retain = 3;
	snprintf(c->fourlw_whitelist, sizeof(c->fourlw_whitelist), "%s", "srvr");
	c->jute_maxbuffer = 0xfffff;
	c->container_check_ms = 60000;
	c->container_max_per_minute = 10000;
	c->global_outstanding_limit = 1000;
	c->force_sync = true;
	c->commit_log_count = 20000;
	c->commit_log_bytes = 64 << 20;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static bool parse_bool(const char *v)
{
	return !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1");
}

static int parse_int(const char *file, int line, const char *k, const char *v, int *out)
{
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < -2147483647L || n > 2147483647L) {
		log_error("config", "%s:%d: %s: not a number: '%s'", file, line, k, v);
		return -EINVAL;
	}
	*out = (int)n;
	return 0;
}

static int parse_server(struct config *c, const char *file, int line, int id, const char *v)
{
	if (c->nservers >= CONFIG_MAX_SERVERS) {
		log_error("config", "%s:%d: too many servers", file, line);
		return -EINVAL;
	}
	struct config_server *s = &c->servers[c->nservers];
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s", v);
	char *semi = strchr(tmp, ';'); /* ";clientPort" suffix of dynamic config */
	if (semi)
		*semi = 0;
	char *p1 = strchr(tmp, ':');
	char *p2 = p1 ? strchr(p1 + 1, ':') : NULL;
	if (!p1 || !p2) {
		log_error("config", "%s:%d: server.%d: want host:port:port", file, line, id);
		return -EINVAL;
	}
	*p1 = *p2 = 0;
	char *p3 = strchr(p2 + 1, ':'); /* ":participant" / ":observer" */
	if (p3) {
		*p3 = 0;
		if (strcmp(p3 + 1, "participant")) {
			log_error("config", "%s:%d: server.%d: only participants are supported, not '%s'",
				  file, line, id, p3 + 1);
			return -EINVAL;
		}
	}
	for (int i = 0; i < c->nservers; i++)
		if (c->servers[i].id == id) {
			log_error("config", "%s:%d: server.%d given twice", file, line, id);
			return -EINVAL;
		}
	if (strlen(tmp) >= sizeof(s->host)) {
		log_error("config", "%s:%d: server.%d: host name too long", file, line, id);
		return -EINVAL;
	}
	memcpy(s->host, tmp, strlen(tmp) + 1);
	s->id = id;
	if (parse_int(file, line, "server port", p1 + 1, &s->quorum_port) ||
	    parse_int(file, line, "election port", p2 + 1, &s->election_port))
		return -EINVAL;
	c->nservers++;
	return 0;
}

int config_load(struct config *c, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	int n = 0, rc = 0;

	if (!f) {
		rc = -errno;
		log_err(rc, "config", "open %s", path);
		return rc;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	while (fgets(line, sizeof(line), f)) {
		n++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			log_error("config", "%s:%d: expected key=value", path, n);
			rc = -EINVAL;
			break;
		}
		*eq = 0;
		char *k = trim(s), *v = trim(eq + 1);
		if (!strncmp(k, "zookeeper.", 10) && strncmp(k, "zookeeper.DigestAuth", 20))
			k += 10;
		if (!strcmp(k, "tickTime"))
			rc = parse_int(path, n, k, v, &c->tick_time);
		else if (!strcmp(k, "initLimit"))
			rc = parse_int(path, n, k, v, &c->init_limit);
		else if (!strcmp(k, "syncLimit"))
			rc = parse_int(path, n, k, v, &c->sync_limit);
		else if (!strcmp(k, "dataDir"))
			snprintf(c->data_dir, sizeof(c->data_dir), "%s", v);
		else if (!strcmp(k, "dataLogDir"))
			snprintf(c->data_log_dir, sizeof(c->data_log_dir), "%s", v);
		else if (!strcmp(k, "clientPort"))
			rc = parse_int(path, n, k, v, &c->client_port);
		else if (!strcmp(k, "clientPortAddress"))
			snprintf(c->client_addr, sizeof(c->client_addr), "%s", v);
		else if (!strcmp(k, "maxClientCnxns"))
			rc = parse_int(path, n, k, v, &c->max_client_cnxns);
		else if (!strcmp(k, "minSessionTimeout"))
			rc = parse_int(path, n, k, v, &c->min_session_timeout);
		else if (!strcmp(k, "maxSessionTimeout"))
			rc = parse_int(path, n, k, v, &c->max_session_timeout);
		else if (!strcmp(k, "snapCount"))
			rc = parse_int(path, n, k, v, &c->snap_count);
		else if (!strcmp(k, "autopurge.snapRetainCount"))
			rc = parse_int(path, n, k, v, &c->autopurge_retain);
		else if (!strcmp(k, "autopurge.purgeInterval"))
			rc = parse_int(path, n, k, v, &c->autopurge_interval_hours);
		else if (!strcmp(k, "4lw.commands.whitelist"))
			snprintf(c->fourlw_whitelist, sizeof(c->fourlw_whitelist), "%s", v);
		else if (!strcmp(k, "extendedTypesEnabled"))
			c->extended_types = parse_bool(v);
		else if (!strcmp(k, "skipACL"))
			c->skip_acl = parse_bool(v);
		else if (!strcmp(k, "forceSync"))
			c->force_sync = parse_bool(v);
		else if (!strcmp(k, "zookeeper.DigestAuthenticationProvider.superDigest") ||
			 !strcmp(k, "DigestAuthenticationProvider.superDigest") || !strcmp(k, "superDigest"))
			snprintf(c->super_digest, sizeof(c->super_digest), "%s", v);
		else if (!strcmp(k, "jute.maxbuffer"))
			rc = parse_int(path, n, k, v, &c->jute_maxbuffer);
		else if (!strcmp(k, "znode.container.checkIntervalMs"))
			rc = parse_int(path, n, k, v, &c->container_check_ms);
		else if (!strcmp(k, "znode.container.maxPerMinute"))
			rc = parse_int(path, n, k, v, &c->container_max_per_minute);
		else if (!strcmp(k, "commitLogCount"))
			rc = parse_int(path, n, k, v, &c->commit_log_count);
		else if (!strcmp(k, "commitLogBytes"))
			rc = parse_int(path, n, k, v, &c->commit_log_bytes);
		else if (!strcmp(k, "globalOutstandingLimit"))
			rc = parse_int(path, n, k, v, &c->global_outstanding_limit);
		else if (!strncmp(k, "server.", 7)) {
			int id;
			if (!(rc = parse_int(path, n, k, k + 7, &id)))
				rc = parse_server(c, path, n, id, v);
		} else
			log_warn("config", "%s:%d: unknown key '%s' ignored", path, n, k);
		if (rc)
			break;
	}
	fclose(f);
	if (!rc && (c->tick_time <= 0 || c->client_port <= 0 || c->client_port > 65535 ||
		    c->jute_maxbuffer <= 0)) {
		log_error("config", "%s: tickTime, clientPort and jute.maxbuffer must be positive", path);
		rc = -EINVAL;
	}
	return rc;
}

int config_load_myid(struct config *c)
{
	char p[1100];
	snprintf(p, sizeof(p), "%s/myid", c->data_dir);
	FILE *f = fopen(p, "r");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	int id = 0;
	if (fscanf(f, "%d", &id) != 1 || id < 0 || id > 254) {
		fclose(f);
		log_error("config", "%s: expected a server id 0..254", p);
		return -EINVAL;
	}
	fclose(f);
	c->myid = id;
	return 0;
}

bool config_4lw_allowed(const struct config *c, const char *cmd)
{
	const char *w = c->fourlw_whitelist;
	size_t n = strlen(cmd);
	while (*w) {
		while (*w == ',' || isspace((unsigned char)*w))
			w++;
		const char *e = w;
		while (*e && *e != ',' && !isspace((unsigned char)*e))
			e++;
		if ((e - w == 1 && *w == '*') || ((size_t)(e - w) == n && !strncmp(w, cmd, n)))
			return true;
		w = e;
	}
	return false;
}
