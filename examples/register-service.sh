#!/bin/bash
# Registers this machine under /coord/services/NAME for as long as the
# service runs: the file is ephemeral, so it disappears from every machine's
# /coord when the service exits or is killed, or when this machine dies.
#   register-service.sh web 10.0.0.5:80 -- ./run-web-server
set -e
name=$1 addr=$2
shift 2
[ "${1:-}" = "--" ] && shift
dir=/coord/services/$name
mkdir -p "$dir"
setfattr -n user.coord.ephemeral -v 1 "$dir"
exec 3>"$dir/$(hostname)"
echo "$addr" >&3
"$@"
