# bpfnet. `make help` lists the targets.
CLANG ?= clang-19
STRIP ?= llvm-strip-19
# -I for asm/ headers: Debian's clang-19 does not search the multiarch dir for the bpf target.
BPF_CFLAGS ?= -O2 -g -Wall -Werror -mcpu=v3 -I/usr/include/x86_64-linux-gnu
GO ?= go

.PHONY: all build generate check-generate test crash-test flood-test fuzz-long fuzz long-test unit demo bench vm-test vm-test-multihost clean help

all: build

build: ## build ./bin/bpfnet
	CGO_ENABLED=0 $(GO) build -o bin/bpfnet ./cmd/bpfnet

generate: ## rebuild the bpf2go outputs (needs clang-19)
	cd bpf && BPF_CLANG=$(CLANG) BPF_STRIP=$(STRIP) BPF_CFLAGS="$(BPF_CFLAGS)" $(GO) generate ./...

check-generate: generate ## fail if the committed bpf2go outputs differ from a fresh build
	git diff --exit-code -- bpf/

test: ## run every test; as root the privileged ones too (they make their own namespaces)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...

# The crash tests at length (tests/e2e/crash_test.go, killloop_test.go): every step of every mutating
# verb in both fault modes and 300 random kills. BPFNET_CRASH_SEED=N replays a run's kills.
crash-test: ## the crash tests at length: a fault at every step of every verb, 300 random kill -9 (as root)
	BPFNET_CRASH_FULL=1 BPFNET_CRASH_KILLS=$${BPFNET_CRASH_KILLS:-300} $(GO) test -count=1 -timeout 60m -v \
		-run 'TestFaultAtEveryStep|TestRandomKills' ./tests/e2e/

# The flood at the default conntrack table's size (tests/e2e/flood_test.go): 100,000 forged SYNs and
# 40,000 new flows against 131,072 entries; every run floods the smallest table.
flood-test: ## the conntrack flood against the default table size (as root)
	BPFNET_LONG=1 $(GO) test -count=1 -timeout 10m -v -run 'TestFloodKeepsEstablished' ./tests/e2e/

# The datapath fuzz test (tests/datapath/fuzz_test.go) at length: generated frames through the three tc
# programs and their reference model. `make test` runs 3,000 per program. BPFNET_FUZZ_SEED=N replays a run.
fuzz-long: ## the datapath against its model: 100,000 generated frames per program (as root)
	BPFNET_FUZZ_FRAMES=$${BPFNET_FUZZ_FRAMES:-100000} $(GO) test -count=1 -timeout 60m -v -run '^TestFuzz(Model|Flows)$$' ./tests/datapath/

# Go's native fuzzing of one program from the corpus in tests/datapath/testdata/fuzz (as root).
FUZZ ?= FuzzFromContainer
FUZZTIME ?= 60s
fuzz: ## go test -fuzz on one program (FUZZ=FuzzFromContainer|FuzzFromUplink|FuzzToContainer, FUZZTIME=60s; as root)
	$(GO) test -run '^$$' -fuzz '^$(FUZZ)$$' -fuzztime $(FUZZTIME) ./tests/datapath/

long-test: crash-test flood-test fuzz-long ## the long runs behind the CI's short ones (as root)

demo: ## two containers talking through bpfnet, one isolated network, counters
	./demo.sh

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# QEMU VM tests (vm/README.md): Debian kernels 5.10, 6.1 and 6.12 under TCG. KERNEL=5.10 picks one.
vm-test: ## boot each pinned kernel (KERNEL=5.10 for one) in QEMU and run the test binaries inside
	vm/run.sh $(KERNEL)

vm-test-multihost: ## three VMs on one virtual segment run the multi-host scenarios (vm/scenarios.txt)
	vm/multihost.sh $(KERNEL)

.PHONY: vm-test-selfcheck
vm-test-selfcheck: ## test the VM harness: a failing guest test, a missing kernel, a stuck VM
	vm/selfcheck.sh $(KERNEL)

# Benchmark (bench/README.md): Docker's kernel dataplane and bpfnet's side by side, in namespaces
# of their own. QUICK=1: 3 paired rounds, under 3 minutes. DOCKERD=1: a private real dockerd too.
bench: ## measure bpfnet against Docker's dataplane (QUICK=1: under 3 minutes; DOCKERD=1: add a real dockerd)
	DOCKERD=$(DOCKERD) sh bench/install-deps.sh
	$(GO) build -o bin/bench-harness ./bench/harness
	QUICK=$(QUICK) DOCKERD=$(DOCKERD) ./bin/bench-harness
