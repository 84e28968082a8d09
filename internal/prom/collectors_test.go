package prom

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestGoCollector(t *testing.T) {
	runtime.GC() // so that the GC series have something to say
	r := NewRegistry()
	r.Register(GoCollector())
	s := gather(t, r)

	if got := s.value(t, "go_goroutines"); got < 1 {
		t.Errorf("go_goroutines = %v", got)
	}
	if got := s.value(t, "go_threads"); got < 1 {
		t.Errorf("go_threads = %v", got)
	}
	if got := s.value(t, `go_info{version="`+runtime.Version()+`"}`); got != 1 {
		t.Errorf("go_info = %v", got)
	}
	if got := s.value(t, "go_gc_duration_seconds_count"); got < 1 {
		t.Errorf("go_gc_duration_seconds_count = %v after a GC", got)
	}
	for _, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		s.value(t, `go_gc_duration_seconds{quantile="`+q+`"}`)
	}
	if got := s.value(t, "go_memstats_last_gc_time_seconds"); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("go_memstats_last_gc_time_seconds = %v, not the GC just now", got)
	}
	heap, inuse, sys := s.value(t, "go_memstats_heap_alloc_bytes"), s.value(t, "go_memstats_heap_inuse_bytes"), s.value(t, "go_memstats_sys_bytes")
	if !(0 < heap && heap <= inuse && inuse < sys) {
		t.Errorf("heap alloc %v, heap in use %v, sys %v: want 0 < alloc ≤ in use < sys", heap, inuse, sys)
	}
	if got := s.value(t, "go_memstats_alloc_bytes"); got != heap {
		t.Errorf("go_memstats_alloc_bytes %v differs from go_memstats_heap_alloc_bytes %v", got, heap)
	}
	if got := s.value(t, "go_sched_gomaxprocs_threads"); got != float64(runtime.GOMAXPROCS(0)) {
		t.Errorf("go_sched_gomaxprocs_threads = %v, want %d", got, runtime.GOMAXPROCS(0))
	}
	if got := s.value(t, "go_gc_gogc_percent"); got != float64(debug.SetGCPercent(-1)) {
		t.Errorf("go_gc_gogc_percent = %v", got)
	} else {
		debug.SetGCPercent(int(got))
	}
	for name, typ := range s.types {
		if strings.HasSuffix(name, "_total") && typ != "counter" {
			t.Errorf("%s is a %s, want a counter", name, typ)
		}
	}
	// Every series client_golang's default Go collector writes (v1.25,
	// Go 1.26), so that dashboards written for it keep working.
	for _, name := range []string{"go_gc_duration_seconds", "go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_goroutines",
		"go_info", "go_memstats_alloc_bytes", "go_memstats_alloc_bytes_total", "go_memstats_buck_hash_sys_bytes",
		"go_memstats_frees_total", "go_memstats_gc_sys_bytes", "go_memstats_heap_alloc_bytes", "go_memstats_heap_idle_bytes",
		"go_memstats_heap_inuse_bytes", "go_memstats_heap_objects", "go_memstats_heap_released_bytes",
		"go_memstats_heap_sys_bytes", "go_memstats_last_gc_time_seconds", "go_memstats_mallocs_total",
		"go_memstats_mcache_inuse_bytes", "go_memstats_mcache_sys_bytes", "go_memstats_mspan_inuse_bytes",
		"go_memstats_mspan_sys_bytes", "go_memstats_next_gc_bytes", "go_memstats_other_sys_bytes",
		"go_memstats_stack_inuse_bytes", "go_memstats_stack_sys_bytes", "go_memstats_sys_bytes",
		"go_sched_gomaxprocs_threads", "go_threads"} {
		if s.types[name] == "" || s.help[name] == "" {
			t.Errorf("%s is missing (type %q, help %q)", name, s.types[name], s.help[name])
		}
	}
	if len(s.types) != 29 {
		t.Errorf("%d go_ families, want 29: %q", len(s.types), s.order)
	}
}

func TestProcessCollector(t *testing.T) {
	r := NewRegistry()
	r.Register(ProcessCollector())
	s := gather(t, r)
	now := float64(time.Now().UnixNano()) / 1e9
	if got := s.value(t, "process_start_time_seconds"); got > now || got < now-24*3600 {
		t.Errorf("process_start_time_seconds = %v, now is %v", got, now)
	}
	if runtime.GOOS != "linux" {
		t.Skip("the other process_ series come from /proc")
	}
	if got := s.value(t, "process_start_time_seconds"); got > float64(initTime.UnixNano())/1e9+1 {
		t.Errorf("process_start_time_seconds = %v, after this package started at %v", got, initTime)
	}
	if got := s.value(t, "process_resident_memory_bytes"); got < 1<<20 || got > 1<<32 {
		t.Errorf("process_resident_memory_bytes = %v", got)
	}
	if rss, vsz := s.value(t, "process_resident_memory_bytes"), s.value(t, "process_virtual_memory_bytes"); vsz < rss {
		t.Errorf("virtual memory %v < resident %v", vsz, rss)
	}
	if got := s.value(t, "process_cpu_seconds_total"); got < 0 {
		t.Errorf("process_cpu_seconds_total = %v", got)
	}
	fds := s.value(t, "process_open_fds")
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := gather(t, r).value(t, "process_open_fds"); got != fds+1 {
		t.Errorf("process_open_fds went from %v to %v on opening one file", fds, got)
	}
	if got := s.value(t, "process_max_fds"); got < fds {
		t.Errorf("process_max_fds = %v < open %v", got, fds)
	}
	s.value(t, "process_virtual_memory_max_bytes")
	s.value(t, "process_network_receive_bytes_total")
	s.value(t, "process_network_transmit_bytes_total")
	if s.types["process_cpu_seconds_total"] != "counter" || s.types["process_resident_memory_bytes"] != "gauge" {
		t.Errorf("types %v", s.types)
	}
	if len(s.types) != 9 {
		t.Errorf("%d process_ families, want 9: %q", len(s.types), s.order)
	}
}
