package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// binaries are the programs a benchmark run starts, built once.
type binaries struct {
	Postbox    string
	Ceiling    string
	Size       int64 // postbox as measured: built as releases are (releaseFlags)
	Unstripped int64 // postbox built by a plain go build; 0 when not built
}

// releaseFlags and releaseEnv build postbox as `make release` and the
// Dockerfile do: the binary measured is the binary shipped. Static matters
// to memory: a cgo build maps libc and the dynamic loader, 1.5 MiB more
// idle RSS.
var (
	releaseFlags = []string{"-trimpath", "-ldflags=-s -w"}
	releaseEnv   = []string{"CGO_ENABLED=0"}
)

// build compiles ./cmd/postbox and ./bench/ceiling of the module at root
// into dir, postbox with releaseFlags. withPlain also builds it with a plain
// go build to report that size. A prebuilt postbox, when not empty, is used
// as it is.
func build(ctx context.Context, root, dir, prebuilt string, withPlain bool) (*binaries, error) {
	b := &binaries{Postbox: filepath.Join(dir, "postbox"), Ceiling: filepath.Join(dir, "ceiling")}
	if prebuilt != "" {
		abs, err := filepath.Abs(prebuilt)
		if err != nil {
			return nil, err
		}
		b.Postbox, withPlain = abs, false
	} else if err := goBuild(ctx, root, b.Postbox, releaseEnv, append(releaseFlags, "./cmd/postbox")...); err != nil {
		return nil, err
	}
	if err := goBuild(ctx, root, b.Ceiling, nil, "./bench/ceiling"); err != nil {
		return nil, err
	}
	fi, err := os.Stat(b.Postbox)
	if err != nil {
		return nil, err
	}
	b.Size = fi.Size()
	if withPlain {
		plain := filepath.Join(dir, "postbox-plain")
		if err := goBuild(ctx, root, plain, nil, "./cmd/postbox"); err != nil {
			return nil, err
		}
		if fi, err = os.Stat(plain); err != nil {
			return nil, err
		}
		b.Unstripped = fi.Size()
	}
	return b, nil
}

// goBuild runs go build in root with env added to the environment.
func goBuild(ctx context.Context, root, out string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", out}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return nil
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the postbox repository")
	}
	return filepath.Dir(gomod), nil
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// proc is a started server process. Its output is kept for error reports.
type proc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{} // closed once cmd.Wait returned
	err    error         // from cmd.Wait, valid once exited is closed
	// Ready is how long the process took from start to its first 200 on
	// /healthz.
	Ready time.Duration
	// admin is postbox's admin listener, "off" when it has none; empty for
	// the ceiling.
	admin string
}

// startProc runs bin with args in dir and waits until http://addr/healthz
// answers 200.
func startProc(ctx context.Context, dir, addr, bin string, args ...string) (*proc, error) {
	p := &proc{cmd: exec.Command(bin, args...), out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(ctx, addr); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s did not get ready: %w\n%s", filepath.Base(bin), err, p.out.String())
	}
	p.Ready = time.Since(start)
	return p, nil
}

// waitReady polls /healthz in a tight loop so that the time to ready is
// measured to about a millisecond.
func (p *proc) waitReady(ctx context.Context, addr string) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited: %v", p.err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("timed out after 30s")
		}
		time.Sleep(500 * time.Microsecond)
	}
}

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop ends the process with SIGTERM, then SIGKILL if it is still running
// after 15 seconds, and waits for it.
func (p *proc) stop() {
	if !p.alive() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// memory is a process's resident set size now and at its peak, and the
// part of it that is anonymous (heap, stacks: not pages of the binary,
// which the kernel shares and may drop), in bytes.
type memory struct{ RSS, Peak, Anon int64 }

// readMemory reads VmRSS, VmHWM and RssAnon from /proc/<pid>/status (Linux); zeros
// elsewhere.
func (p *proc) readMemory() memory {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return memory{}
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.RSS = kb << 10
		case "VmHWM":
			m.Peak = kb << 10
		case "RssAnon":
			m.Anon = kb << 10
		}
	}
	return m
}

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ,
// 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuTime returns the CPU time the process and its waited-for children
// (commands run by exec actions) used so far: utime+stime+cutime+cstime
// from /proc/<pid>/stat, 0 where there is no /proc.
func (p *proc) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: skip past it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state is field 3, utime..cstime are fields 14..17.
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}

// selfCPU returns the CPU time the harness itself (the load generator)
// used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// syncBuffer is a bytes.Buffer safe for the process's writers and the
// harness's readers, keeping at most its last 64 KiB.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 64<<10 {
		keep := s.b.Bytes()[s.b.Len()-32<<10:]
		s.b = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
