/*
 * zkpath.h - ZooKeeper path validation and manipulation.
 */
#ifndef COORD_ZKPATH_H
#define COORD_ZKPATH_H

#include <stdint.h>

/* PathUtils.validatePath: ZOK or ZBADARGUMENTS.  len is the wire length. */
int path_validate(const char *path, int32_t len);
/* Copies the parent path of path into out (size >= strlen(path)+1). */
void path_parent(const char *path, char *out);

#endif
