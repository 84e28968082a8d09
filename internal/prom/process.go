package prom

import (
	"context"
	"time"
)

// ProcessCollector returns a collector of the process's series under the
// names client_golang's process collector gives them:
// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_virtual_memory_max_bytes,
// process_open_fds, process_max_fds and process_start_time_seconds. On Linux
// they come from /proc/self; elsewhere only process_start_time_seconds is
// written, from the time this package was initialised. A value that cannot
// be read is left out of the scrape.
func ProcessCollector() Collector {
	return CollectorFunc(func(_ context.Context, dst []Family) []Family {
		return collectProcess(dst)
	})
}

// initTime stands for the process's start time where it cannot be read.
var initTime = time.Now()

const (
	helpStartTime = "Start time of the process since unix epoch in seconds."
	nameStartTime = "process_start_time_seconds"
)

func gaugeFamily(name, help string, t Type, v float64) Family {
	return Family{Name: name, Help: help, Type: t, Series: []Series{{Value: v}}}
}
