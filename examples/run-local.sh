#!/bin/bash
# Sets up a fresh Debian 12 machine (as root) and starts a local coordd on
# 127.0.0.1:2181 in the foreground.  Ctrl-C stops it.
set -e
cd "$(dirname "$0")/.."
bash .ci/deps
autoreconf -fi
mkdir -p build && cd build
[ -f Makefile ] || ../configure
make -j2
mkdir -p /var/lib/coordd
echo "coordd: serving on 127.0.0.1:2181 (try: /usr/share/zookeeper/bin/zkCli.sh -server 127.0.0.1:2181)"
exec ./replica/coordd -c ../examples/standalone.cfg
