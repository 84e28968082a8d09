#!/bin/sh
# argv.sh records exactly what it was given, so that a test can read it
# back: its arguments, NUL-separated, in $ARGV_DIR/$POSTBOX_DELIVERY.args
# and $STATE in $ARGV_DIR/$POSTBOX_DELIVERY.env. It never evaluates them.
set -eu
out="$ARGV_DIR/$POSTBOX_DELIVERY"
printf '%s' "${STATE-}" > "$out.env"
printf '%s\0' "$@" > "$out.tmp"
mv "$out.tmp" "$out.args"
echo "recorded $# arguments"
