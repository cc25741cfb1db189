package ctl_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/bpfnet/bpfnet/ctl"
	"github.com/bpfnet/bpfnet/ctl/ports"
)

// ports lists what the datapath publishes, as "host port -> container
// address:port".
func (f *fixture) ports() []string {
	var out []string
	for _, p := range f.k.PortEntries() {
		out = append(out, fmt.Sprintf("%d/%d -> %v:%d", p.HostPort, p.Proto, p.ContainerIP, p.ContainerPort))
	}
	slices.Sort(out)
	return out
}

func (f *fixture) samePorts(what string, want ...string) {
	f.t.Helper()
	slices.Sort(want)
	if got := f.ports(); !slices.Equal(got, want) {
		f.t.Fatalf("%s: the datapath publishes %q, want %q", what, got, want)
	}
}

// A host port is one container's at a time, in Docker's words; the store's
// index and the datapath agree through publish, unpublish and rm, and a
// container's slot says whether it publishes.
func TestPublishConflicts(t *testing.T) {
	f := newFixture(t)
	web := f.create(ctl.ContainerSpec{Name: "web", Publish: []string{"8080:80"}})
	f.samePorts("web with 8080", "8080/6 -> 172.17.0.2:80")

	before := f.k.Summary()
	err := f.run(func(in *ctl.Instance) error {
		_, err := in.CreateContainer(ctl.ContainerSpec{Name: "api", Publish: []string{"8080:80"}})
		return err
	})
	if !errors.Is(err, ports.ErrPortAllocated) || err.Error() != "Bind for 0.0.0.0:8080 failed: port is already allocated" {
		t.Fatalf("a second container on 8080: %v", err)
	}
	f.sameState("after the refused create", before)
	if !f.missing("api") {
		t.Fatal("the store holds the refused container")
	}

	api := f.create(ctl.ContainerSpec{Name: "api"})
	publish := func(ref string, specs ...string) error {
		return f.run(func(in *ctl.Instance) error { _, err := in.Publish(ref, specs); return err })
	}
	if err := publish("api", "127.0.0.1:8080:80"); !errors.Is(err, ports.ErrPortAllocated) {
		t.Fatalf("api on 127.0.0.1:8080 beside web's 0.0.0.0:8080: %v", err)
	}
	if f.k.DP.Publishing[api.Endpoints[0].Slot] {
		t.Fatal("a refused publish left api's slot publishing")
	}
	f.k.BusyPorts["0.0.0.0:9000/tcp"] = true // a host process holds it
	if err := publish("api", "9000:80"); err == nil {
		t.Fatal("publishing a port a host process holds succeeded")
	}
	if err := publish("api", "8081:80"); err != nil {
		t.Fatal(err)
	}
	f.samePorts("api with 8081", "8080/6 -> 172.17.0.2:80", "8081/6 -> 172.17.0.3:80")
	if !f.k.DP.Publishing[api.Endpoints[0].Slot] {
		t.Fatal("api publishes, but its slot does not say so")
	}

	f.do(func(in *ctl.Instance) error { return in.Unpublish("web", []string{"80"}) })
	f.samePorts("web unpublished", "8081/6 -> 172.17.0.3:80")
	if f.k.DP.Publishing[web.Endpoints[0].Slot] {
		t.Fatal("web publishes nothing, but its slot says it does")
	}
	if err := publish("api", "8080:80"); err != nil {
		t.Fatalf("8080, freed by web: %v", err)
	}
	f.samePorts("api took 8080", "8080/6 -> 172.17.0.3:80", "8081/6 -> 172.17.0.3:80")
	f.read(func(in *ctl.Instance) error {
		ms, err := in.Ports(api)
		if len(ms) != 2 {
			t.Errorf("the store's index gives api %v", ms)
		}
		return err
	})

	f.do(func(in *ctl.Instance) error { return in.RemoveContainer("api") })
	f.samePorts("api removed")
	if err := publish("web", "8080:80", "8081:80"); err != nil {
		t.Fatalf("the ports of a removed container: %v", err)
	}
	f.mustBeClean()
}
