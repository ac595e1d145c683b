# hearth: a Matrix homeserver whose core runs natively and in the browser.
#
#   make run     build and start a homeserver on 127.0.0.1 (data in ./data)
#   make test    download modules, lint, and run every test (native and js/wasm)
#
# Other targets: build, wasm, bench, lint, clean.

GO       ?= go
GOROOT   := $(shell $(GO) env GOROOT)
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
DATA     ?= ./data
RUN_FLAGS ?= --data $(DATA)
WASM_EXEC := $(GOROOT)/lib/wasm/go_js_wasm_exec
# Extra flags for the native go test run (make race runs it with -race).
TESTFLAGS ?=
# The matrix-js-sdk test's npm packages live beside it.
JSSDK    := tests/jssdk

.PHONY: all build wasm run test test-native test-clients test-wasm deps dendrite bench lint race crash fuzz clean

all: build wasm

## build: the native node, bin/hearth
# Without cgo the node is one static binary: no libc mapped beside it, which
# is about 1.5 MiB less resident memory at idle (issue 5: at most 20 MiB),
# and Go's own DNS resolver, which federation uses either way.
build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o bin/hearth ./cmd/node

# The browser module is built for size (issue 5: at most 3 MB gzip): no
# symbol tables, and no inlining in hearth's own packages (about 240 KB of
# gzip, at 1.2-1.4x the CPU in its micro-benchmarks under Node) nor in the
# standard library's packages that net/http links but the browser node never
# runs (TLS certificates, RSA and NIST curves) or runs off its hot path (fmt,
# log/slog). See docs/benchmarks.md.
WASM_GCFLAGS := -gcflags=hearth/...=-l -gcflags=crypto/internal/fips140/nistec/...=-l \
	-gcflags=crypto/internal/fips140/bigmod=-l -gcflags=crypto/internal/fips140/rsa=-l \
	-gcflags=math/big=-l -gcflags=encoding/asn1=-l -gcflags=crypto/x509/...=-l \
	-gcflags=fmt=-l -gcflags=log/slog/...=-l

## wasm: the browser module web/hearth.wasm and Go's wasm_exec.js beside it
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' $(WASM_GCFLAGS) -o web/hearth.wasm ./cmd/wasm
	cp "$(GOROOT)/lib/wasm/wasm_exec.js" web/wasm_exec.js

## run: build, then start hearth on 127.0.0.1 with its data in $(DATA)
run: build
	./bin/hearth serve $(RUN_FLAGS)

## deps: download the modules (the main module and the mautrix test module)
deps:
	$(GO) mod download
	cd tests/mautrix && $(GO) mod download

## test: modules, lint, native tests (with matrix-js-sdk and matrix-nio against a real hearth),
## mautrix-go against a real hearth, js/wasm builds and tests under Node
test: deps lint test-native test-clients test-wasm

test-native: $(JSSDK)/node_modules/.installed dendrite
	$(GO) test -count=1 $(TESTFLAGS) ./...

## dendrite: build Dendrite v0.13.8 once into ~/.cache/hearth (tests/dendrite and make bench run it)
dendrite:
	sh tools/dendrite/dendrite.sh build

# mautrix-go is its own module so the main module never depends on it; its
# pure-Go olm (tag goolm) needs neither cgo nor libolm.
test-clients:
	cd tests/mautrix && $(GO) test -count=1 -tags goolm ./...

## race: the native tests under the race detector (slower; not part of make test)
race:
	$(MAKE) test-native TESTFLAGS=-race

# The js-sdk test's packages, from the committed lock file; reinstalled only
# when package.json or the lock file changes.
$(JSSDK)/node_modules/.installed: $(JSSDK)/package.json $(JSSDK)/package-lock.json
	npm ci --prefix $(JSSDK) --no-audit --no-fund
	touch $@

test-wasm:
	GOOS=js GOARCH=wasm $(GO) build -o /dev/null ./cmd/wasm
	GOOS=js GOARCH=wasm $(GO) build ./core/... ./persist/...
	GOOS=js GOARCH=wasm $(GO) test -count=1 -exec="$(WASM_EXEC)" ./core/... ./cmd/wasm

## bench: micro-benchmarks of the core and the store, then hearth side by side with Dendrite v0.13.8
## (the first run builds Dendrite into ~/.cache/hearth; results in docs/benchmarks.md)
bench: build wasm
	$(GO) test -run='^$$' -bench=. -benchmem ./core/... ./persist/...
	$(GO) run ./cmd/bench -compare -hearth bin/hearth -wasm web/hearth.wasm
## crash: kill hearth with SIGKILL under load 20 times and check that every acknowledged write survived
## (make test runs 2 rounds; the disk-full test mounts a tmpfs and needs root)
crash:
	$(GO) test -count=1 -timeout 30m -run Crash ./tests/crash -crash.rounds=20

FUZZTIME ?= 30s
FUZZ_TARGETS := core/canonicaljson:FuzzCanonicalize core/event:FuzzParse core/event:FuzzRedact \
	core/xmatrix:FuzzParseHeader core/xmatrix:FuzzVerify core/filter:FuzzParse \
	core/syncer:FuzzParseToken core/synctoken:FuzzParsePosition core/signing:FuzzSignVerify core/b64:FuzzRoundTrip \
	core/syncer:FuzzAppendString core/pushrules:FuzzCheckValue core/pushrules:FuzzEventViewOf \
	core/pushrules:FuzzEventView core/pushrules:FuzzGlob

## fuzz: run every fuzz target for $(FUZZTIME) (their seed corpora run in make test)
fuzz:
	@set -e; for pt in $(FUZZ_TARGETS); do \
	  pkg=$${pt%%:*}; target=$${pt##*:}; echo "== $$pkg $$target"; \
	  $(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) ./$$pkg; \
	done

## lint: gofmt, go vet natively and for js/wasm
lint:
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then echo "gofmt -l found unformatted files:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./core/... ./persist/... ./cmd/wasm

## clean: remove build outputs (not the data directory)
clean:
	rm -rf bin web/hearth.wasm web/wasm_exec.js $(JSSDK)/node_modules
