#!/bin/bash
# Restarts a program whenever its configuration in /coord changes, on any
# machine: coordfs turns every remote change into the inotify events a local
# edit would make.
#   watch-config.sh /coord/app/config.ini systemctl reload app
set -e
file=$1
shift
while inotifywait -qq -e close_write,create,delete,move "$(dirname "$file")"; do
	"$@"
done
