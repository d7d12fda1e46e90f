#!/bin/bash
# Runs a command on one machine of the cluster at a time: flock on a file in
# /coord is a cluster-wide lock (fair; released at once if the holder dies).
#   deploy-lock.sh ./deploy.sh          wait for the lock
#   deploy-lock.sh -n ./deploy.sh       give up at once if another machine holds it
set -e
opts=()
[ "${1:-}" = "-n" ] && { opts+=(-n); shift; }
mkdir -p /coord/locks
[ -e /coord/locks/deploy ] || : > /coord/locks/deploy
exec flock "${opts[@]}" /coord/locks/deploy "$@"
