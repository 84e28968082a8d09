package prom

import "testing"

func TestParseStat(t *testing.T) {
	// A command may name itself "a) (b" (prctl PR_SET_NAME): the fields
	// start after the last parenthesis, not the first.
	const stat = "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 125 0 0 20 0 7 0 123456 1606639616 3646 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := (procStat{utime: 250, stime: 125, starttime: 123456, vsize: 1606639616, rss: 3646}); got != want {
		t.Errorf("parseStat = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "4242 no parenthesis", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 1500 0 0 0 x 125 0 0 20 0 7 0 123456 1606639616 3646"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) gave no error", bad)
		}
	}
}
