package prom

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The runtime/metrics samples the Go collector reads; rm* index them.
var runtimeSamples = [...]string{
	rmTinyAllocs:    "/gc/heap/tiny/allocs:objects",
	rmAllocs:        "/gc/heap/allocs:objects",
	rmFrees:         "/gc/heap/frees:objects",
	rmAllocBytes:    "/gc/heap/allocs:bytes",
	rmObjects:       "/gc/heap/objects:objects",
	rmGoal:          "/gc/heap/goal:bytes",
	rmTotal:         "/memory/classes/total:bytes",
	rmHeapObjects:   "/memory/classes/heap/objects:bytes",
	rmHeapUnused:    "/memory/classes/heap/unused:bytes",
	rmHeapReleased:  "/memory/classes/heap/released:bytes",
	rmHeapFree:      "/memory/classes/heap/free:bytes",
	rmStacks:        "/memory/classes/heap/stacks:bytes",
	rmOSStacks:      "/memory/classes/os-stacks:bytes",
	rmMSpanInuse:    "/memory/classes/metadata/mspan/inuse:bytes",
	rmMSpanFree:     "/memory/classes/metadata/mspan/free:bytes",
	rmMCacheInuse:   "/memory/classes/metadata/mcache/inuse:bytes",
	rmMCacheFree:    "/memory/classes/metadata/mcache/free:bytes",
	rmBuckets:       "/memory/classes/profiling/buckets:bytes",
	rmMetadataOther: "/memory/classes/metadata/other:bytes",
	rmOther:         "/memory/classes/other:bytes",
	rmGOGC:          "/gc/gogc:percent",
	rmMemLimit:      "/gc/gomemlimit:bytes",
	rmGOMAXPROCS:    "/sched/gomaxprocs:threads",
}

// rmValues holds the samples read, by rm* index.
type rmValues [len(runtimeSamples)]uint64

const (
	rmTinyAllocs = iota
	rmAllocs
	rmFrees
	rmAllocBytes
	rmObjects
	rmGoal
	rmTotal
	rmHeapObjects
	rmHeapUnused
	rmHeapReleased
	rmHeapFree
	rmStacks
	rmOSStacks
	rmMSpanInuse
	rmMSpanFree
	rmMCacheInuse
	rmMCacheFree
	rmBuckets
	rmMetadataOther
	rmOther
	rmGOGC
	rmMemLimit
	rmGOMAXPROCS
)

// runtimeSeries are the unlabelled go_* series computed from the samples,
// with client_golang's names, help and arithmetic (its go_memstats_* are
// runtime.MemStats fields rebuilt from runtime/metrics, which, unlike
// runtime.ReadMemStats, does not stop the world).
var runtimeSeries = []struct {
	name, help string
	typ        Type
	value      func(*rmValues) uint64
}{
	{"go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmHeapObjects] }},
	{"go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.",
		CounterType, func(v *rmValues) uint64 { return v[rmAllocBytes] }},
	{"go_memstats_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmBuckets] }},
	{"go_memstats_frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.",
		CounterType, func(v *rmValues) uint64 { return v[rmFrees] + v[rmTinyAllocs] }},
	{"go_memstats_gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmMetadataOther] }},
	{"go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmHeapObjects] }},
	{"go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmHeapReleased] + v[rmHeapFree] }},
	{"go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes",
		GaugeType, func(v *rmValues) uint64 { return v[rmHeapObjects] + v[rmHeapUnused] }},
	{"go_memstats_heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.",
		GaugeType, func(v *rmValues) uint64 { return v[rmObjects] }},
	{"go_memstats_heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmHeapReleased] }},
	{"go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.",
		GaugeType, func(v *rmValues) uint64 {
			return v[rmHeapObjects] + v[rmHeapUnused] + v[rmHeapReleased] + v[rmHeapFree]
		}},
	{"go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.",
		CounterType, func(v *rmValues) uint64 { return v[rmAllocs] + v[rmTinyAllocs] }},
	{"go_memstats_mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmMCacheInuse] }},
	{"go_memstats_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmMCacheInuse] + v[rmMCacheFree] }},
	{"go_memstats_mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmMSpanInuse] }},
	{"go_memstats_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmMSpanInuse] + v[rmMSpanFree] }},
	{"go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmGoal] }},
	{"go_memstats_other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmOther] }},
	{"go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmStacks] }},
	{"go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmStacks] + v[rmOSStacks] }},
	{"go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.",
		GaugeType, func(v *rmValues) uint64 { return v[rmTotal] }},
	{"go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.",
		GaugeType, func(v *rmValues) uint64 { return v[rmGOGC] }},
	{"go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.",
		GaugeType, func(v *rmValues) uint64 { return v[rmMemLimit] }},
	{"go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.",
		GaugeType, func(v *rmValues) uint64 { return v[rmGOMAXPROCS] }},
}

// GoCollector returns a collector of the Go runtime's series under the
// names client_golang's default Go collector gives them: go_goroutines,
// go_threads, go_info, go_gc_duration_seconds, go_memstats_* and the GC and
// scheduler settings. Dashboards written for client_golang keep working.
func GoCollector() Collector {
	return CollectorFunc(collectGo)
}

func collectGo(_ context.Context, dst []Family) []Family {
	gauge := func(name, help string, v float64) Family {
		return Family{Name: name, Help: help, Type: GaugeType, Series: []Series{{Value: v}}}
	}
	threads, _ := runtime.ThreadCreateProfile(nil)
	dst = append(dst,
		gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine())),
		gauge("go_threads", "Number of OS threads created.", float64(threads)),
		Family{Name: "go_info", Help: "Information about the Go environment.", Type: GaugeType,
			Labels: []string{"version"}, Series: []Series{{LabelValues: []string{runtime.Version()}, Value: 1}}})

	// The minimum, the quartiles and the maximum of the recent GC pauses.
	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&gc)
	pauses := Series{Count: uint64(gc.NumGC), Sum: gc.PauseTotal.Seconds()}
	for i, q := range gc.PauseQuantiles {
		pauses.Quantiles = append(pauses.Quantiles, Quantile{Quantile: float64(i) / 4, Value: q.Seconds()})
	}
	dst = append(dst,
		Family{Name: "go_gc_duration_seconds", Help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
			Type: SummaryType, Series: []Series{pauses}},
		gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.",
			float64(gc.LastGC.UnixNano())/1e9))

	var samples [len(runtimeSamples)]metrics.Sample
	for i, name := range runtimeSamples {
		samples[i].Name = name
	}
	metrics.Read(samples[:])
	var v rmValues
	for i, s := range samples {
		// A metric this Go does not have reads as KindBad: count it 0.
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	for _, s := range runtimeSeries {
		dst = append(dst, Family{Name: s.name, Help: s.help, Type: s.typ, Series: []Series{{Value: float64(s.value(&v))}}})
	}
	return dst
}
