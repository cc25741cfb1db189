// Package datapath holds the unit tests of the BPF programs: the container
// programs (bpf/container.c) and the uplink program (bpf/host.c). Each test
// builds frames by hand, loads the programs into an instance on a private
// bpffs, runs them with BPF_PROG_TEST_RUN and checks the verdict, the
// rewritten bytes, the connection tracking entries and the counters. Tests
// whose programs call bpf_fib_lookup run in a throwaway network namespace
// that stands for the host. They need root and a kernel with BPF; without
// them they skip.
package datapath
