package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/bpfnet/bpfnet/tests/testutil"
)

// Volumes as Docker's: what one container's process writes into a named
// volume another's reads; --volumes-from NAME:ro mounts them read-only;
// a host directory binds too; the mounts live in the exec'd command's
// own mount namespace (the host's path is untouched); a volume in use
// cannot be removed, in Docker's words; prune takes the unused ones.
func TestVolumesShared(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	mp, hostDir := t.TempDir(), t.TempDir() // a mount point on the host; a directory to bind
	if err := os.WriteFile(filepath.Join(hostDir, "from-host"), []byte("host file"), 0o644); err != nil {
		t.Fatal(err)
	}
	in.MustRun("volume", "create", "--label", "team=e2e", "shared")
	in.CreateContainer("writer", "--network", "none", "-v", "shared:"+mp)
	in.CreateContainer("reader", "-v", "shared:"+mp+":ro")
	in.CreateContainer("follower", "--network", "none", "--volumes-from", "writer:ro")
	in.CreateContainer("binder", "--network", "none", "-v", hostDir+":"+mp+":ro")

	in.MustRun("exec", "writer", "--", self, tu.ArgFile, "write", filepath.Join(mp, "hello"), "from writer")
	for _, name := range []string{"reader", "follower", "writer"} {
		if got := in.MustRun("exec", name, "--", self, tu.ArgFile, "read", filepath.Join(mp, "hello")); got != "from writer" {
			t.Errorf("%s reads %q, want what writer wrote", name, got)
		}
	}
	if _, err := os.Stat(filepath.Join(mp, "hello")); !os.IsNotExist(err) {
		t.Errorf("the host's %s holds the volume's file (%v): the mount leaked out of the command's namespace", mp, err)
	}
	for _, name := range []string{"reader", "follower"} {
		in.MustFail("read-only file system", "exec", name, "--", self, tu.ArgFile, "write", filepath.Join(mp, "x"), "no")
	}
	if got := in.MustRun("exec", "binder", "--", self, tu.ArgFile, "read", filepath.Join(mp, "from-host")); got != "host file" {
		t.Errorf("binder reads %q from the bound host directory", got)
	}
	in.MustFail("read-only file system", "exec", "binder", "--", self, tu.ArgFile, "write", filepath.Join(mp, "x"), "no")

	if got := strings.Fields(in.MustRun("volume", "ls", "--format", "{{.Name}} {{.Label \"team\"}}")); strings.Join(got, " ") != "shared e2e" {
		t.Errorf("volume ls: %q", got)
	}
	var vols []struct{ Name, Driver, Mountpoint string }
	in.MustJSON(&vols, "volume", "inspect", "shared")
	if len(vols) != 1 || vols[0].Driver != "local" || vols[0].Mountpoint != filepath.Join(in.Root, "volumes", "shared", "_data") {
		t.Errorf("volume inspect: %+v", vols)
	}
	want := "volume shared " + filepath.Join(in.Root, "volumes", "shared", "_data") + " " + mp + " false"
	if got := in.MustRun("container", "inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Source}} {{.Destination}} {{.RW}}{{end}}", "follower"); strings.TrimSpace(got) != want {
		t.Errorf("inspect follower's mounts: %q, want %q", got, want)
	}
	r := in.MustFail("remove shared: volume is in use - [", "volume", "rm", "shared")
	for _, name := range []string{"writer", "reader", "follower"} {
		if id := in.Inspect(name).Id; !strings.Contains(r.Stderr, id) {
			t.Errorf("the in-use error does not name %s (%s): %s", name, id, r.Stderr)
		}
	}
	in.MustFail("the mount point does not exist on the host", "container", "create", "nomp", "--network", "none", "-v", "shared:/nonexistent-bpfnet-e2e")

	for _, name := range []string{"writer", "reader", "follower", "binder"} {
		in.MustRun("container", "rm", name)
	}
	// What a create or rm killed between its two renames leaves is never
	// listed, and repair takes it away.
	leftover := filepath.Join(in.Root, "volumes", ".new-killed")
	if err := os.MkdirAll(filepath.Join(leftover, "_data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(in.MustRun("volume", "ls", "-q")); got != "shared" {
		t.Errorf("volume ls with a leftover: %q", got)
	}
	in.MustRun("system", "repair")
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("repair left %s (%v)", leftover, err)
	}
	in.MustRun("volume", "create", "spare")
	if got := strings.Fields(in.MustRun("volume", "prune", "-f")); strings.Join(got, " ") != "Deleted Volumes: shared spare" {
		t.Errorf("volume prune: %q", got)
	}
	if _, err := os.Stat(filepath.Join(in.Root, "volumes", "shared")); !os.IsNotExist(err) {
		t.Errorf("the pruned volume's files stay (%v)", err)
	}
}

// -v specs are refused as Docker refuses them, before anything is made.
func TestVolumeSpecsRefused(t *testing.T) {
	t.Parallel()
	in := tu.NewInstance(t, "")
	for _, tt := range []struct{ spec, want string }{
		{"vol:relative", "invalid mount path: 'relative' mount path must be absolute"},
		{"vol:/data:rx", "invalid mode: rx"},
		{"a:b:c:d", "invalid volume specification: 'a:b:c:d'"},
		{"bad$name:/data", "includes invalid characters for a local volume name"},
		{"vol:/", "destination can't be '/'"},
	} {
		in.MustFail(tt.want, "container", "create", "cc", "--network", "none", "-v", tt.spec)
	}
	in.MustFail("Duplicate mount point: /tmp", "container", "create", "cc", "--network", "none", "-v", "a1:/tmp", "-v", "a2:/tmp")
}
