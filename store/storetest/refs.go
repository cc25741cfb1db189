package storetest

import (
	"testing"

	"github.com/bpfnet/bpfnet/store"
)

// resolves checks ContainerID(ref): want "" is "no container".
func resolves(t *testing.T, s store.Store, ref, want string) {
	t.Helper()
	got, ok, err := s.ContainerID(ref)
	switch {
	case err != nil:
		t.Errorf("ContainerID(%q): %v", ref, err)
	case want == "" && ok:
		t.Errorf("ContainerID(%q) = %s, want no container", ref, got)
	case want != "" && (!ok || got != want):
		t.Errorf("ContainerID(%q) = %q, %v; want %s", ref, got, ok, want)
	}
}

// A reference is a name, a full ID or a unique ID prefix, as in Docker; an
// ambiguous prefix matches nothing.
func testContainerID(t *testing.T, s store.Store) {
	web, api, db := id("ab12"), id("ab34"), id("cd56")
	apply(t, s, puts(container(web, "web"), container(api, "api"), container(db, "db")))
	for ref, want := range map[string]string{
		"web": web, "api": api, "db": db, // names
		web: web, db: db, // full IDs
		"ab1": web, "ab3": api, "c": db, "cd56": db, web[:63]: web, // unique prefixes
		"a": "", "ab": "", // ambiguous prefixes
		"ab9": "", "e": "", "nosuch": "", "": "", // nothing
		"we": "", "Web": "", // a prefix of a name, another case: not names
		web + "0": "", // longer than an ID
	} {
		resolves(t, s, ref, want)
	}
}

// A name is a name even when it is also a prefix of another container's
// ID; a prefix resolves to an ID only when no container has that name.
func testNamesAreNames(t *testing.T, s store.Store) {
	named, other := id("ee01"), id("be")
	apply(t, s, puts(container(named, "be"), container(other, "x")))
	resolves(t, s, "be", named)
	resolves(t, s, "b", other)
	resolves(t, s, "ee", named)
}

// A renamed container answers to its new name only; a deleted one to nothing.
func testRename(t *testing.T, s store.Store) {
	c := container(id("c1"), "old")
	apply(t, s, puts(c))
	c.Name = "new"
	apply(t, s, puts(c))
	resolves(t, s, "new", c.ID)
	resolves(t, s, "old", "")
	apply(t, s, puts(container(id("c2"), "old")))
	resolves(t, s, "old", id("c2"))
	apply(t, s, store.Change{DeleteContainers: []string{c.ID}})
	resolves(t, s, "new", "")
	resolves(t, s, "old", id("c2"))
	resolves(t, s, "c1", "")
}
