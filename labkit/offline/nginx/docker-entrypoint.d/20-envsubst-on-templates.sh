#!/bin/sh
# Render /etc/nginx/templates/**/*.template into /etc/nginx/conf.d/ (same relative path, suffix
# dropped), replacing ${VAR} with the value of environment variable VAR. Only variables that are
# set are replaced, so nginx's own $variables survive. Settings, as in the official image:
#   NGINX_ENVSUBST_TEMPLATE_DIR    (default /etc/nginx/templates)
#   NGINX_ENVSUBST_TEMPLATE_SUFFIX (default .template)
#   NGINX_ENVSUBST_OUTPUT_DIR      (default /etc/nginx/conf.d)
#   NGINX_ENVSUBST_FILTER          (only variables whose names match this regular expression)
set -e

template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
filter="${NGINX_ENVSUBST_FILTER:-}"

say() {
	if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then
		echo "$0: $*"
	fi
}

[ -d "$template_dir" ] || exit 0
if [ ! -w "$output_dir" ]; then
	say "ERROR: $template_dir exists, but $output_dir is not writable"
	exit 0
fi

# "${A} ${B} ..." for every variable set in the environment (whose name matches the filter).
defined="$(awk -v filter="$filter" 'BEGIN {
	for (name in ENVIRON) if (name ~ /^[A-Za-z_][A-Za-z0-9_]*$/ && (filter == "" || name ~ filter))
		printf "${%s} ", name
}')"

find "$template_dir" -follow -type f -name "*$suffix" -print | sort | while read -r template; do
	relative="${template#"$template_dir"/}"
	output="$output_dir/${relative%"$suffix"}"
	mkdir -p "$(dirname "$output")"
	say "Running envsubst on $template to $output"
	envsubst "$defined" < "$template" > "$output"
done
