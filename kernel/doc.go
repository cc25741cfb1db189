// Package kernel is bpfnet's plumbing into the Linux network stack:
// network namespaces (one helper to run code inside one), netlink dumps,
// sysctls and the cgroup v2 mount. The control plane, the tests, the
// benchmark and the VM checks all use it; it knows nothing of bpfnet's
// store or datapath.
package kernel
