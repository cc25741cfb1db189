// Package bpf holds bpfnet's datapath: the C programs and the Go bindings
// bpf2go generates from them. Only the loader package imports it.
package bpf

//go:generate go tool bpf2go -cc ${BPF_CLANG} -strip ${BPF_STRIP} -cflags ${BPF_CFLAGS} -tags linux -target bpfel -go-package bpf -output-stem container -type drop_reason -type direction -type network_flags -type endpoint_flags -type ct_kind -type host_netns -type ct_stat -type limits -type masquerade_range -type ct_flags -type slots Container container.c
//go:generate go tool bpf2go -cc ${BPF_CLANG} -strip ${BPF_STRIP} -cflags ${BPF_CFLAGS} -tags linux -target bpfel -go-package bpf -output-stem host -no-global-types Host host.c
//go:generate go tool bpf2go -cc ${BPF_CLANG} -strip ${BPF_STRIP} -cflags ${BPF_CFLAGS} -tags linux -target bpfel -go-package bpf -output-stem sock -no-global-types Sock sock.c
//go:generate go run ./internal/neutralnames Container container_bpfel.go names_bpfel.go
