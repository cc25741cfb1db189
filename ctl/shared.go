package ctl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bpfnet/bpfnet/store"
)

// sharedNetworkPrefix starts Docker's --network container:NAME.
const sharedNetworkPrefix = "container:"

// errSharedNetwork is Docker's refusal (runconfig.ErrConflictSharedNetwork).
var errSharedNetwork = fmt.Errorf("container sharing network namespace with another container or host cannot be connected to any other network")

// createSharing makes c join the network namespace of the container ref
// names, as Docker's --network container:NAME: no namespace, endpoint or
// port of its own. Both records change in one commit, so the owner knows
// its sharers without a scan (rm stays O(1)) and a kill leaves both or
// neither; nothing changes in the kernel.
func (in *Instance) createSharing(c *Container, spec ContainerSpec, ref string) (*Container, error) {
	switch {
	case len(spec.Publish) > 0 || spec.PublishAll:
		return nil, fmt.Errorf("conflicting options: port publishing and the container type network mode")
	case spec.IP != "" || len(spec.Aliases) > 0 || spec.Netns != "":
		return nil, fmt.Errorf("conflicting options: --ip, --alias and --netns cannot be used with the container type network mode")
	}
	owner, err := in.Container(ref)
	if err != nil {
		return nil, err
	}
	if owner.SharesWith != "" {
		// Joining a sharer joins the namespace it shares.
		if owner, err = in.containerByID(owner.SharesWith); err != nil {
			return nil, in.damaged(fmt.Errorf("container %q shares the namespace of %q, which has no record", ref, owner.SharesWith))
		}
	}
	c.SharesWith = owner.ID
	owner.SharedBy = append(owner.SharedBy, c.ID)
	return c, in.commit(store.Change{PutContainers: []*Container{c, owner}})
}

// sharingOwner is the container whose namespace c shares, nil when c has
// its own.
func (in *Instance) sharingOwner(c *Container) (*Container, error) {
	if c.SharesWith == "" {
		return nil, nil
	}
	owner, err := in.containerByID(c.SharesWith)
	if err != nil {
		return nil, in.damaged(fmt.Errorf("container %s shares the namespace of %q, which has no record", c.Name, c.SharesWith))
	}
	return owner, nil
}

// refuseSharedRemoval refuses to remove a container whose namespace
// others share: they would lose their network without a word.
func (in *Instance) refuseSharedRemoval(c *Container) error {
	var names []string
	for _, id := range c.SharedBy {
		if sharer, err := in.containerByID(id); err == nil && sharer.SharesWith == c.ID {
			names = append(names, sharer.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return fmt.Errorf("cannot remove container %s: its network namespace is shared by %s (--network container:%s); remove them first",
		c.Name, strings.Join(names, ", "), c.Name)
}

// leaveSharing is the owner's record without c among its sharers, to
// commit with c's removal; nil when c shares no namespace.
func (in *Instance) leaveSharing(c *Container) (*Container, error) {
	owner, err := in.sharingOwner(c)
	if owner == nil || err != nil {
		return nil, err
	}
	owner.SharedBy = slices.DeleteFunc(owner.SharedBy, func(id string) bool { return id == c.ID })
	return owner, nil
}
