# Lifeboat — every target installs what it needs (see .ci/deps.sh).
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
export LANG := en_US.UTF-8
GO ?= go
STATICCHECK := v0.8.2

.PHONY: run demo test test-short lint cross nogui windows bench bench-restore bench-failover deps build screenshots

## run: the desktop app (with a display), else the command line; the built-in demo when no account is configured
run: deps
	@$(GO) run ./cmd/lifeboat

demo:
	@$(GO) run ./cmd/lifeboat demo

build:
	$(GO) build -o bin/lifeboat ./cmd/lifeboat

## windows: bin/lifeboat.exe, the Windows desktop app and command line (MinGW cross compiler; the first build takes minutes)
## nogui: the command line without the desktop app (servers: no cgo, X11 or GL; less memory per process)
nogui:
	CGO_ENABLED=0 $(GO) build -tags nogui -o bin/lifeboat-nogui ./cmd/lifeboat

windows: deps
	CC=x86_64-w64-mingw32-gcc CGO_ENABLED=1 GOOS=windows GOARCH=amd64 $(GO) build -o bin/lifeboat.exe ./cmd/lifeboat
	@file bin/lifeboat.exe | grep -q 'PE32+ executable.*x86-64' || { file bin/lifeboat.exe; echo "bin/lifeboat.exe is not a PE32+ x86-64 executable"; exit 1; }
	@echo "bin/lifeboat.exe: $$(du -h bin/lifeboat.exe | cut -f1), $$(file -b bin/lifeboat.exe)"

## lint: gofmt, go vet and staticcheck (pinned)
lint:
	@test -z "$$(gofmt -l cmd app sync store)" || { echo "gofmt needed:"; gofmt -l cmd app sync store; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK) ./...

## cross: every package built and vetted for windows/amd64 and darwin/arm64 without cgo
cross:
	@.ci/cross

deps:
	@.ci/deps.sh

## test: the rules (gofmt, vet, staticcheck), the Windows and macOS builds, then every test (unit, real Dovecot and Postfix, real Secret Service, crash, fuzz seeds), race detector on
test: deps lint cross windows
	.ci/with-keyring $(GO) test -race -shuffle=on -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short -count=1 ./...

## bench: the backup benchmark against mbsync and a bare fetch loop (prints a table)
bench: deps
	$(GO) run ./cmd/lifeboat-bench

## bench-restore: restore into an empty Dovecot user: Lifeboat vs mbsync push vs a bare APPEND loop (prints a table)
# imapsync from its source, pinned (Debian 12 has no package of it).
IMAPSYNC_COMMIT ?= 023535075cbfb4b364fee419330a1910cd57ec95
bench-restore: deps
	.ci/deps.sh bench
	@[ -s bin/imapsync ] || { mkdir -p bin && curl -fsSL -o bin/imapsync.tmp https://raw.githubusercontent.com/imapsync/imapsync/$(IMAPSYNC_COMMIT)/imapsync && mv bin/imapsync.tmp bin/imapsync; } || echo "bench-restore: imapsync could not be fetched; it is left out"
	$(GO) run ./cmd/lifeboat-bench restore

## bench-failover: failover latency and relay throughput against two private Postfix+Dovecot providers
bench-failover: deps
	.ci/with-keyring $(GO) run ./cmd/lifeboat-bench-failover

## screenshots: play the desktop demo tour under Xvfb and keep a screenshot of each main view in assets/screenshots
screenshots: deps
	$(GO) build -o bin/lifeboat ./cmd/lifeboat
	@set -e; Xvfb :97 -screen 0 1280x800x24 -nolisten tcp & xpid=$$!; sleep 1; \
	  DISPLAY=:97 XDG_DATA_HOME=$$(mktemp -d) bin/lifeboat gui --tour assets/screenshots; st=$$?; \
	  kill $$xpid; exit $$st
