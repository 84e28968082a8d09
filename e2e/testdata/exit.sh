#!/bin/sh
# exit.sh writes $1 to stdout and to stderr, then exits with code $2.
echo "out: $1"
echo "err: $1" >&2
exit "$2"
