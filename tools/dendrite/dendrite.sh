#!/bin/sh
# dendrite.sh builds Dendrite (the reference Go homeserver hearth is compared
# with) once into a cache and prepares or runs a throwaway, loopback-only
# instance of it.
#
#   dendrite.sh build              build into the cache if needed; print the bin directory
#   dendrite.sh config DIR PORT    write DIR/dendrite.yaml and DIR/matrix_key.pem for a
#                                  server named 127.0.0.1:PORT; print the command to start it
#   dendrite.sh run DIR PORT       build, config, then exec Dendrite in the foreground
#
# The cache is ${XDG_CACHE_HOME:-$HOME/.cache}/hearth/dendrite-v0.13.8 (a cold
# build takes about 4 minutes on 2 cores; later calls return at once).
#
# The configuration is generate-config -ci (no key perspectives, rate limiting
# off, open registration without verification, statistics reporting off) with
# its trusted identity servers emptied too, so it never contacts anything off
# this machine; SQLite databases in DIR; JetStream in memory as -ci sets it;
# and logging lowered from -ci's "trace" to "warn" so that a benchmark does
# not measure Dendrite's logging. Dendrite is started
# with --http-bind-address 127.0.0.1:PORT only (no HTTPS listener) and
# --really-enable-open-registration.
set -eu

VERSION=v0.13.8
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/hearth/dendrite-$VERSION"

build() {
	if [ -x "$CACHE/dendrite" ] && [ -x "$CACHE/generate-config" ] && [ -x "$CACHE/generate-keys" ]; then
		echo "$CACHE"
		return
	fi
	echo "dendrite.sh: building Dendrite $VERSION into $CACHE (about 4 minutes cold)" >&2
	mkdir -p "$(dirname "$CACHE")"
	tmp="$CACHE.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# Build outside any module so that hearth's go.mod plays no part.
	(cd / && GOBIN="$tmp" GOFLAGS=-mod=mod go install \
		"github.com/matrix-org/dendrite/cmd/dendrite@$VERSION" \
		"github.com/matrix-org/dendrite/cmd/generate-config@$VERSION" \
		"github.com/matrix-org/dendrite/cmd/generate-keys@$VERSION") >&2
	rm -rf "$CACHE"
	mv "$tmp" "$CACHE"
	echo "$CACHE"
}

config() {
	dir=$1 port=$2
	bin=$(build)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	"$bin/generate-config" -ci -dir "$dir" -server "127.0.0.1:$port" >"$dir/dendrite.yaml.tmp"
	# -ci logs at "trace" (the only "level:" key in the file is the logger's)
	# and still lists matrix.org and vector.im as trusted identity servers:
	# lower the one to "warn", empty the other.
	awk '
		/^  trusted_third_party_id_servers:$/ { print "  trusted_third_party_id_servers: []"; skip = 1; next }
		skip && /^  - / { next }
		{ skip = 0 }
		/^  level: trace$/ { print "  level: warn"; next }
		{ print }
	' "$dir/dendrite.yaml.tmp" >"$dir/dendrite.yaml"
	rm -f "$dir/dendrite.yaml.tmp"
	for want in '^  level: warn$' '^  key_perspectives: \[\]$' '^  trusted_third_party_id_servers: \[\]$'; do
		if ! grep -q "$want" "$dir/dendrite.yaml"; then
			echo "dendrite.sh: $dir/dendrite.yaml does not match $want; refusing to run" >&2
			exit 1
		fi
	done
	# The only other mention of matrix.org is report_stats' endpoint, which
	# -ci leaves disabled.
	if grep -v 'endpoint: https://panopticon.matrix.org/push' "$dir/dendrite.yaml" | grep -q 'matrix\.org\|vector\.im'; then
		echo "dendrite.sh: $dir/dendrite.yaml names a remote server; refusing to run" >&2
		exit 1
	fi
	if ! grep -A1 '^  report_stats:$' "$dir/dendrite.yaml" | grep -q 'enabled: false'; then
		echo "dendrite.sh: report_stats is not disabled in $dir/dendrite.yaml; refusing to run" >&2
		exit 1
	fi
	(cd "$dir" && "$bin/generate-keys" --private-key matrix_key.pem >/dev/null)
	echo "cd $dir && $bin/dendrite --config $dir/dendrite.yaml --http-bind-address 127.0.0.1:$port --really-enable-open-registration"
}

case "${1:-}" in
build)
	build
	;;
config)
	[ $# -eq 3 ] || { echo "usage: $0 config DIR PORT" >&2; exit 2; }
	config "$2" "$3" >/dev/null
	echo "$(build)/dendrite --config $(cd "$2" && pwd)/dendrite.yaml --http-bind-address 127.0.0.1:$3 --really-enable-open-registration"
	;;
run)
	[ $# -eq 3 ] || { echo "usage: $0 run DIR PORT" >&2; exit 2; }
	config "$2" "$3" >/dev/null
	cd "$2"
	exec "$(build)/dendrite" --config dendrite.yaml --http-bind-address "127.0.0.1:$3" --really-enable-open-registration
	;;
*)
	echo "usage: $0 build | config DIR PORT | run DIR PORT" >&2
	exit 2
	;;
esac
