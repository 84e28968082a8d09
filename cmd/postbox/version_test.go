package main

import (
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	defer func(v, c string) { buildVersion, buildCommit = v, c }(buildVersion, buildCommit)
	buildVersion, buildCommit = "v1.2.3", "0123456789abcdef"
	got := version()
	want := "v1.2.3 (0123456789ab) " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if !strings.HasPrefix(got, want) { // on arm, "armv7"

		t.Errorf("version() = %q, want %q", got, want)
	}
	buildVersion, buildCommit = "", ""
	if got := releaseVersion(); got != "devel" {
		t.Errorf("unset, releaseVersion() = %q, want devel (a test binary records no module version)", got)
	}
}
