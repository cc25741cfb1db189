// Package datapath holds the unit tests of the container programs
// (bpf/container.c): each test builds frames by hand, loads the programs of
// one endpoint into a private bpffs, runs them with BPF_PROG_TEST_RUN and
// checks the verdict, the rewritten bytes and the counters. They need root
// and a kernel with BPF; without them they skip.
package datapath
