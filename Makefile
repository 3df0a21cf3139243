# Sluice developer entry points. Every target that needs real servers
# installs the missing Debian packages first (quietly; loudly on failure).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO         ?= go
FUZZTIME   ?= 10s
FUZZPKGS   ?= ./...
BENCH_ARGS ?=
TEST_ARGS  ?=

SERVER_PACKAGES := postgresql mariadb-server mariadb-client openssh-server openssh-client
CLIENT_PACKAGES := pgbouncer haproxy python3-psycopg2 python3-pymysql asciinema sysbench tmux rsync git nodejs
CLIENTS_DIR     := testenv/clients

.PHONY: build test vet demo bench fuzz deps server-deps node-deps clean

build:
	$(GO) build -o bin/sluice ./cmd/sluice

server-deps:
	testenv/install-deps.sh $(SERVER_PACKAGES)

deps: server-deps
	testenv/install-deps.sh $(CLIENT_PACKAGES)

# npm ci only when node_modules is older than the lock file.
node-deps: $(CLIENTS_DIR)/node_modules/.package-lock.json

$(CLIENTS_DIR)/node_modules/.package-lock.json: $(CLIENTS_DIR)/package-lock.json $(CLIENTS_DIR)/package.json
	cd $(CLIENTS_DIR) && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	touch $@

vet:
	$(GO) vet ./...

test: deps node-deps vet
	$(GO) test -race -count=1 -timeout 60m $(TEST_ARGS) ./...

demo: server-deps
	$(GO) run ./cmd/sluice demo

bench: deps
	$(GO) run ./testenv/benchrun $(BENCH_ARGS)

# Every Fuzz target in the repo, FUZZTIME each; found with `go test -list`
# so new targets are picked up without editing this file.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) testenv/fuzz.sh $(FUZZPKGS)

clean:
	rm -rf bin sluice-data
