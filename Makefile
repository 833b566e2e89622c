# Lifeboat — every target installs what it needs (see .ci/deps.sh).
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
export LANG := en_US.UTF-8
GO ?= go

.PHONY: run demo test test-short vet bench bench-failover deps build screenshots

## run: the desktop app (with a display), else the command line; the built-in demo when no account is configured
run: deps
	@$(GO) run ./cmd/lifeboat

demo:
	@$(GO) run ./cmd/lifeboat demo

build:
	$(GO) build -o bin/lifeboat ./cmd/lifeboat

deps:
	@.ci/deps.sh

## test: every test (unit, real Dovecot, real Secret Service, crash, fuzz seeds), race detector on
test: deps
	@test -z "$$(gofmt -l cmd app sync store)" || { echo "gofmt needed:"; gofmt -l cmd app sync store; exit 1; }
	$(GO) vet ./...
	.ci/with-keyring $(GO) test -race -shuffle=on -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short -count=1 ./...

## bench: the backup benchmark against mbsync and a bare fetch loop (prints a table)
bench: deps
	$(GO) run ./cmd/lifeboat-bench

## bench-failover: failover latency and relay throughput against two private Postfix+Dovecot providers
bench-failover: deps
	.ci/with-keyring $(GO) run ./cmd/lifeboat-bench-failover

## screenshots: play the desktop demo tour under Xvfb and keep a screenshot of each main view in assets/screenshots
screenshots: deps
	$(GO) build -o bin/lifeboat ./cmd/lifeboat
	@set -e; Xvfb :97 -screen 0 1280x800x24 -nolisten tcp & xpid=$$!; sleep 1; \
	  DISPLAY=:97 XDG_DATA_HOME=$$(mktemp -d) bin/lifeboat gui --tour assets/screenshots; st=$$?; \
	  kill $$xpid; exit $$st
