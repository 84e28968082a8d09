package prom

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// userHZ is the unit of the times in /proc/self/stat; procfs, which
// client_golang reads them with, assumes 100 too.
const userHZ = 100

// bootTime is the btime line of /proc/stat: the time the system booted, in
// seconds since the epoch, which /proc/self/stat's start time counts from.
var bootTime = sync.OnceValues(func() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			return strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
		}
	}
	return 0, os.ErrNotExist
})

func collectProcess(dst []Family) []Family {
	if stat, err := readStat(); err == nil {
		dst = append(dst,
			gaugeFamily("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
				CounterType, float64(stat.utime+stat.stime)/userHZ),
			gaugeFamily("process_virtual_memory_bytes", "Virtual memory size in bytes.", GaugeType, float64(stat.vsize)),
			gaugeFamily("process_resident_memory_bytes", "Resident memory size in bytes.",
				GaugeType, float64(stat.rss*uint64(os.Getpagesize()))))
		start := float64(initTime.UnixNano()) / 1e9
		if boot, err := bootTime(); err == nil {
			start = boot + float64(stat.starttime)/userHZ
		}
		dst = append(dst, gaugeFamily(nameStartTime, helpStartTime, GaugeType, start))
	} else {
		dst = append(dst, gaugeFamily(nameStartTime, helpStartTime, GaugeType, float64(initTime.UnixNano())/1e9))
	}
	if n, err := openFDs(); err == nil {
		dst = append(dst, gaugeFamily("process_open_fds", "Number of open file descriptors.", GaugeType, float64(n)))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		dst = append(dst, gaugeFamily("process_max_fds", "Maximum number of open file descriptors.", GaugeType, float64(lim.Cur)))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		dst = append(dst, gaugeFamily("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.",
			GaugeType, float64(lim.Cur)))
	}
	if in, out, err := readNetstat(); err == nil {
		dst = append(dst,
			gaugeFamily("process_network_receive_bytes_total", "Number of bytes received by the process over the network.",
				CounterType, in),
			gaugeFamily("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.",
				CounterType, out))
	}
	return dst
}

// readNetstat reads InOctets and OutOctets from /proc/self/net/netstat,
// where a line of IpExt names is followed by a line of their values. Like
// client_golang's, these count the process's network namespace, not the
// process alone.
func readNetstat() (in, out float64, err error) {
	b, err := os.ReadFile("/proc/self/net/netstat")
	if err != nil {
		return 0, 0, err
	}
	var names []string
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "IpExt:")
		if !ok {
			continue
		}
		if names == nil {
			names = strings.Fields(rest)
			continue
		}
		for i, v := range strings.Fields(rest) {
			if i >= len(names) {
				break
			}
			switch names[i] {
			case "InOctets":
				in, err = strconv.ParseFloat(v, 64)
			case "OutOctets":
				out, err = strconv.ParseFloat(v, 64)
			}
			if err != nil {
				return 0, 0, err
			}
		}
		return in, out, nil
	}
	return 0, 0, os.ErrNotExist
}

// procStat holds the fields of /proc/self/stat the collector uses.
type procStat struct {
	utime, stime, starttime, vsize, rss uint64
}

func readStat() (procStat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// parseStat reads the fields of a /proc/PID/stat that procStat holds.
func parseStat(b []byte) (s procStat, err error) {
	// The command name, field 2, is in parentheses and may itself hold
	// spaces and parentheses: the fields that follow start after the last
	// ")". They are numbered from 3 (the state) in proc(5).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, os.ErrInvalid
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 {
		return procStat{}, os.ErrInvalid
	}
	field := func(n int) uint64 {
		v, e := strconv.ParseUint(f[n-3], 10, 64)
		if e != nil && err == nil {
			err = e
		}
		return v
	}
	s = procStat{utime: field(14), stime: field(15), starttime: field(22), vsize: field(23), rss: field(24)}
	return s, err
}

// openFDs counts the entries of /proc/self/fd, the one this call opens to
// read it included, as procfs does.
func openFDs() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	n := 0
	for {
		names, err := d.Readdirnames(256)
		n += len(names)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}
