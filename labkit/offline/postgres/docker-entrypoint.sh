#!/usr/bin/env bash
# Entrypoint of the course's offline postgres:15-bookworm. Written for this project from the
# official image's documented behaviour (https://hub.docker.com/_/postgres), not from its code:
#
#   * started as root: make $PGDATA and the socket directory, give them to postgres, and re-run
#     this script as postgres (setpriv, from util-linux);
#   * empty $PGDATA: initdb with POSTGRES_USER/POSTGRES_PASSWORD, allow password logins from any
#     host (scram-sha-256 unless POSTGRES_HOST_AUTH_METHOD says otherwise), create POSTGRES_DB,
#     run /docker-entrypoint-initdb.d/* against a server reachable only over the local socket;
#   * then exec the server in the foreground (logs on stderr, PID 1, stops on SIGINT/SIGTERM).
#
# Sourcing the file (`. docker-entrypoint.sh`) only defines the functions, so init scripts can
# call docker_process_sql as with the official image.
set -Eeo pipefail

INITDB_DIR=/docker-entrypoint-initdb.d
SELF=/usr/local/bin/docker-entrypoint.sh

log() { printf '%s: %s\n' "$SELF" "$*"; }

# VAR, or the contents of the file named by VAR_FILE (Docker/Compose secrets), or a default.
file_env() {
	local var="$1" fallback="${2:-}" fvar="${1}_FILE"
	if [ -n "${!var:-}" ] && [ -n "${!fvar:-}" ]; then
		log "error: both $var and $fvar are set; use one or the other" >&2
		exit 1
	fi
	local value="$fallback"
	if [ -n "${!var:-}" ]; then
		value="${!var}"
	elif [ -n "${!fvar:-}" ]; then
		value="$(< "${!fvar}")"
	fi
	export "$var=$value"
	unset "$fvar"
}

docker_setup_env() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=}"
	DATABASE_ALREADY_EXISTS=
	if [ -s "$PGDATA/PG_VERSION" ]; then
		DATABASE_ALREADY_EXISTS=yes
	fi
}

docker_create_db_directories() {
	mkdir -p "$PGDATA"
	# initdb refuses a data directory that others can read; ignore failures (e.g. odd mounts).
	chmod 00700 "$PGDATA" 2>/dev/null || :
	mkdir -p /var/run/postgresql
	chmod 03775 /var/run/postgresql 2>/dev/null || :
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		mkdir -p "$POSTGRES_INITDB_WALDIR"
		chmod 00700 "$POSTGRES_INITDB_WALDIR" 2>/dev/null || :
	fi
	if [ "$(id -u)" = 0 ]; then
		find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
		find /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
		if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
			find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres:postgres '{}' +
		fi
	fi
}

docker_verify_minimum_env() {
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		cat >&2 <<-'EOM'
			Error: the database is not initialised yet and no superuser password was given.
			       Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value, e.g.
			         docker run -e POSTGRES_PASSWORD=secret postgres:15-bookworm
			       or, for a throwaway database only, allow every connection without a password
			       with POSTGRES_HOST_AUTH_METHOD=trust.
		EOM
		exit 1
	fi
	if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
		cat >&2 <<-'EOM'
			WARNING: POSTGRES_HOST_AUTH_METHOD=trust lets anyone who can reach this server connect as
			         any role, with no password. Use it only for local throwaway databases.
		EOM
	fi
}

docker_init_database_dir() {
	local args=(--username="$POSTGRES_USER")
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		args+=(--waldir="$POSTGRES_INITDB_WALDIR")
	fi
	# POSTGRES_INITDB_ARGS is shell words (quotes allowed), as in the official image. The password
	# reaches initdb through a pipe, never the command line.
	if [ -n "$POSTGRES_PASSWORD" ]; then
		eval 'initdb "${args[@]}" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"
	else
		eval 'initdb "${args[@]}" '"$POSTGRES_INITDB_ARGS"
	fi
}

# Local (socket) connections stay "trust" as initdb made them; every host gets a password check.
pg_setup_hba_conf() {
	local method="$POSTGRES_HOST_AUTH_METHOD"
	if [ -z "$method" ]; then
		method="$(postgres -C password_encryption "$@" 2>/dev/null || echo scram-sha-256)"
	fi
	{
		echo
		if [ "$method" = trust ]; then
			echo '# warning: trust is enabled for all connections (POSTGRES_HOST_AUTH_METHOD=trust)'
		fi
		echo "host all all all $method"
	} >> "$PGDATA/pg_hba.conf"
}

# A server for the init scripts only: no TCP listener, so nothing outside sees a half-made database.
docker_temp_server_start() {
	local opts=(-c listen_addresses= -p "${PGPORT:-5432}" "$@")
	PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -o "$(printf '%q ' "${opts[@]}")" -w start
}

docker_temp_server_stop() {
	PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -m fast -w stop
}

# psql as the superuser over the socket; stops at the first error. Extra args go to psql.
docker_process_sql() {
	# A later --dbname in "$@" wins over the default.
	PGHOST= PGHOSTADDR= psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc \
		--dbname "$POSTGRES_DB" "$@"
}

docker_setup_db() {
	local exists
	exists="$(POSTGRES_DB=postgres docker_process_sql --dbname postgres --set db="$POSTGRES_DB" --tuples-only \
		<<<"SELECT 1 FROM pg_database WHERE datname = :'db' ;")"
	if [ -z "$exists" ]; then
		POSTGRES_DB=postgres docker_process_sql --dbname postgres --set db="$POSTGRES_DB" \
			<<<'CREATE DATABASE :"db" ;'
		echo
	fi
}

# Run the files given (normally /docker-entrypoint-initdb.d/*) in the order given.
docker_process_init_files() {
	local f
	echo
	for f in "$@"; do
		case "$f" in
			*.sh)
				if [ -x "$f" ]; then
					log "running $f"
					"$f"
				else
					log "sourcing $f"
					# shellcheck disable=SC1090
					. "$f"
				fi
				;;
			*.sql)     log "running $f"; docker_process_sql -f "$f"; echo ;;
			*.sql.gz)  log "running $f"; gzip -dc "$f" | docker_process_sql; echo ;;
			*.sql.xz)  log "running $f"; xz -dc "$f" | docker_process_sql; echo ;;
			*.sql.zst) log "running $f"; zstd -dc "$f" | docker_process_sql; echo ;;
			*)         log "ignoring $f" ;;
		esac
		echo
	done
}

# postgres --help / --version and friends must not trigger any set-up.
_pg_want_help() {
	local arg
	for arg; do
		case "$arg" in
			-'?'|--help|--describe-config|-V|--version) return 0 ;;
		esac
	done
	return 1
}

_main() {
	# `docker run postgres:15-bookworm -c max_connections=200`: options for the server.
	if [ "${1:0:1}" = '-' ]; then
		set -- postgres "$@"
	fi

	if [ "$1" = postgres ] && ! _pg_want_help "$@"; then
		docker_setup_env
		docker_create_db_directories
		if [ "$(id -u)" = 0 ]; then
			export HOME=/var/lib/postgresql
			exec setpriv --reuid=postgres --regid=postgres --init-groups "$SELF" "$@"
		fi

		if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
			docker_verify_minimum_env
			# Fail early (before initdb) if the init directory cannot be read.
			ls "$INITDB_DIR"/ >/dev/null
			docker_init_database_dir
			pg_setup_hba_conf "${@:2}"

			export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
			docker_temp_server_start "${@:2}"
			docker_setup_db
			shopt -s nullglob
			docker_process_init_files "$INITDB_DIR"/*
			shopt -u nullglob
			docker_temp_server_stop
			unset PGPASSWORD

			echo
			echo 'PostgreSQL init process complete; ready for start up.'
			echo
		else
			echo
			echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
			echo
		fi
	fi

	exec "$@"
}

# Run only when executed, not when sourced.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	_main "$@"
fi
