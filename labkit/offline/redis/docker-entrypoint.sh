#!/bin/sh
# Entrypoint of the course's offline redis:7-bookworm, written for this project from the official
# image's documented behaviour: arguments that are options or a *.conf file are handed to
# redis-server; redis-server started as root first takes ownership of /data (the working
# directory) for the redis user and then runs as that user.
set -e

case "${1:-}" in
	-*|*.conf) set -- redis-server "$@" ;;
esac

if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups /usr/local/bin/docker-entrypoint.sh "$@"
fi

# Dump and append-only files readable by the redis user only, unless a umask was chosen already.
if [ "$(umask)" = 0022 ]; then
	umask 0077
fi

exec "$@"
