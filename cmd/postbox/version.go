package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at build time by the release builds (see the Makefile):
//
//	go build -ldflags "-X main.buildVersion=v1.2.0 -X main.buildCommit=0123abcd"
//
// Empty means what the Go toolchain recorded, if anything.
var (
	buildVersion string
	buildCommit  string
)

// version reports, on one line, the release the binary was built as, the
// VCS revision, the Go version and the platform:
//
//	v1.2.0 (0123456789ab) go1.26.8 linux/armv7
func version() string {
	v, rev := releaseVersion(), buildCommit
	goVersion, arch := runtime.Version(), runtime.GOARCH
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			case "GOARM":
				arch += "v" + s.Value // armv6, armv7: which Raspberry Pi
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified && rev != "" && !strings.HasSuffix(rev, "-dirty") {
			rev += "-dirty"
		}
	}
	out := v
	if rev != "" {
		out += " (" + rev + ")"
	}
	return out + " " + goVersion + " " + runtime.GOOS + "/" + arch
}

// releaseVersion is the version alone: the one set at build time, else
// the module version `go install ...@v1.2.0` records, else "devel".
func releaseVersion() string {
	if buildVersion != "" {
		return buildVersion
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "devel"
}
