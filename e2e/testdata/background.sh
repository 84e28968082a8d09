#!/bin/sh
# background.sh starts a process that outlives it and keeps its output
# open, as a deploy script that starts a service does, then exits 0.
sleep 3 &
echo "started $!"
