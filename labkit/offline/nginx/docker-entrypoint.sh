#!/bin/sh
# Entrypoint of the course's offline nginx:stable-bookworm, written for this project from the
# official image's documented behaviour: when the command is nginx, the hooks in
# /docker-entrypoint.d run first, in version order: executable *.sh files are run, executable
# *.envsh files are sourced (so they can export variables), anything else is ignored.
# NGINX_ENTRYPOINT_QUIET_LOGS=1 silences these messages.
set -e

say() {
	if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then
		echo "$0: $*"
	fi
}

if [ "${1:-}" = nginx ] || [ "${1:-}" = nginx-debug ]; then
	hooks="$(find /docker-entrypoint.d/ -mindepth 1 -maxdepth 1 -follow -type f 2>/dev/null | sort -V)"
	if [ -n "$hooks" ]; then
		say "/docker-entrypoint.d/ is not empty, will attempt to perform configuration"
		for hook in $hooks; do
			case "$hook" in
				*.envsh)
					if [ -x "$hook" ]; then
						say "Sourcing $hook"
						. "$hook"
					else
						say "Ignoring $hook, not executable"
					fi
					;;
				*.sh)
					if [ -x "$hook" ]; then
						say "Launching $hook"
						"$hook"
					else
						say "Ignoring $hook, not executable"
					fi
					;;
				*) say "Ignoring $hook" ;;
			esac
		done
		say "Configuration complete; ready for start up"
	else
		say "No files found in /docker-entrypoint.d/, skipping configuration"
	fi
fi

# Debian has no separate debug build; nginx-debug runs the same binary.
if [ "${1:-}" = nginx-debug ]; then
	shift
	set -- nginx "$@"
fi

exec "$@"
