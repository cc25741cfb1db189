# bpfnet. `make help` lists the targets.
CLANG ?= clang-19
STRIP ?= llvm-strip-19
# -I for asm/ headers: Debian's clang-19 does not search the multiarch dir for the bpf target.
BPF_CFLAGS ?= -O2 -g -Wall -Werror -mcpu=v3 -I/usr/include/x86_64-linux-gnu
GO ?= go

.PHONY: all build generate check-generate test unit demo bench vm-test vm-test-multihost clean help

all: build

build: ## build ./bin/bpfnet
	$(GO) build -o bin/bpfnet ./ctl/bpfnet

generate: ## rebuild the bpf2go outputs (needs clang-19)
	cd bpf && BPF_CLANG=$(CLANG) BPF_STRIP=$(STRIP) BPF_CFLAGS="$(BPF_CFLAGS)" $(GO) generate ./...

check-generate: generate ## fail if the committed bpf2go outputs differ from a fresh build
	git diff --exit-code -- bpf/

test: ## run every test; as root the privileged ones too (they make their own namespaces)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...

demo: ## two containers talking through bpfnet, one isolated network, counters
	./demo.sh

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
