package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/sqlite"
	"github.com/postbox/postbox/storetest"
)

// TestAddressSpace opens a store, makes it use every connection it has
// (concurrent reads beside writes) and reports the process's address space
// and resident memory. On a 32-bit machine (a MIPS router, under qemu in
// .ci/mipsle) the address space must stay well inside the 2 GiB a process
// has: ncruces/go-sqlite3 reserves a fixed block per connection.
func TestAddressSpace(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := mapped(t)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			d := storetest.NewDelivery(fmt.Sprint("h", i%4), 1)
			if err := db.Append(ctx, d); err != nil {
				t.Error(err)
				return
			}
			if _, err := db.Deliveries(ctx, postbox.DeliveryFilter{Limit: 10}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	after := mapped(t)
	t.Logf("%s, %d-bit: address space %d MiB before Open's connections were used, %d MiB after; %s",
		sqlite.Driver, strconv.IntSize, before>>20, after>>20, resident(t))
	if strconv.IntSize == 32 && after > 1<<30 {
		t.Errorf("a 32-bit process maps %d MiB with the store open: over 1 GiB of its 2 GiB", after>>20)
	}
}

// mapped sums the sizes of the process's mappings, as it sees them (under
// qemu-user, the guest's own).
func mapped(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps here: %v", err)
	}
	defer f.Close()
	var total uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		span, _, _ := strings.Cut(sc.Text(), " ")
		lo, hi, ok := strings.Cut(span, "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if ok && err1 == nil && err2 == nil && b > a {
			total += b - a
		}
	}
	return total
}

// resident reads VmRSS from /proc/self/status (under qemu-user, the
// emulator's, with its translation cache).
func resident(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "VmRSS unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return "VmRSS " + strings.TrimSpace(v)
		}
	}
	return "VmRSS unknown"
}
