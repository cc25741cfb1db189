// Package ctl is bpfnet's control plane: networks, containers and their
// endpoints, kept in a store that is the truth, from which the kernel state
// (namespaces, veths, addresses, routes, datapath entries) is derived.
package ctl

import "github.com/bpfnet/bpfnet/model"

// The store's records, as the CLI and tests name them.
type (
	Network   = model.Network
	Container = model.Container
	Endpoint  = model.Endpoint
	Mount     = model.Mount
	State     = model.State
)

// Driver names and predefined networks, as Docker spells them.
const (
	DriverBridge  = model.DriverBridge
	DriverHost    = model.DriverHost
	DriverNull    = model.DriverNull
	NetworkBridge = model.NetworkBridge
	NetworkHost   = model.NetworkHost
	NetworkNone   = model.NetworkNone
)
