#!/bin/sh
# record.sh appends the delivery it runs for to $RUNS, one id a line: a
# test counts how often each delivery's action ran.
echo "$POSTBOX_DELIVERY" >> "$RUNS"
