# postbox: build, test and release.
#
#   make              build ./postbox for this machine
#   make test         go test ./... (the README's test command)
#   make check        gofmt and go vet
#   make release      static binaries for every platform below into dist/, with SHA256SUMS
#   make release VERSION=v1.2.0
#   make docker       the container image (needs a Docker engine)
#
# Release binaries are static (CGO_ENABLED=0: SQLite is modernc.org/sqlite,
# pure Go, and on MIPS github.com/ncruces/go-sqlite3, pure Go too, as
# modernc has no MIPS port), stripped (-s -w), reproducible (-trimpath),
# and carry their version and commit for `postbox version`.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.buildVersion=$(VERSION) -X main.buildCommit=$(COMMIT)
GO      ?= go

# os-arch; armv6 and armv7 are GOARCH=arm with GOARM=6 (Raspberry Pi Zero
# and 1) and GOARM=7 (Pi 2 and later on a 32-bit system); mipsle and mips
# are routers (OpenWrt: MediaTek MT7621/MT76x8 are mipsle, Atheros/QCA
# ath79 are mips), built with GOMIPS=softfloat, which runs with or without
# an FPU.
PLATFORMS := linux-amd64 linux-arm64 linux-armv6 linux-armv7 \
             linux-mipsle linux-mips \
             darwin-amd64 darwin-arm64 windows-amd64

binary = dist/postbox-$(VERSION)-$(1)$(if $(findstring windows,$(1)),.exe)
TARGETS := $(foreach p,$(PLATFORMS),$(call binary,$(p)))

.PHONY: build test check release docker clean
.DELETE_ON_ERROR:

build:
	$(GO) build -ldflags "-X main.buildVersion=$(VERSION) -X main.buildCommit=$(COMMIT)" -o postbox ./cmd/postbox

test:
	$(GO) test ./...

check:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...

release: $(TARGETS)
	cd dist && sha256sum $(notdir $(TARGETS)) > SHA256SUMS-$(VERSION)

# dist/postbox-VERSION-OS-ARCH[.exe]: one static binary.
dist/postbox-$(VERSION)-%: FORCE
	@mkdir -p dist
	@p='$*'; p=$${p%.exe}; os=$${p%%-*}; arch=$${p#*-}; arm=; mips=; \
	case $$arch in \
	  armv6) arch=arm; arm=6;; \
	  armv7) arch=arm; arm=7;; \
	  mipsle|mips) mips=softfloat;; \
	esac; \
	echo "GOOS=$$os GOARCH=$$arch$${arm:+ GOARM=$$arm}$${mips:+ GOMIPS=$$mips} -> $@"; \
	CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$arm GOMIPS=$$mips \
	  $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $@ ./cmd/postbox

FORCE:

docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t postbox:$(VERSION) .

clean:
	rm -rf dist postbox
