// Package etcdstore is a store.Store on etcd: the state that hosts of a
// cluster share, under one key prefix per cluster (several clusters, or
// tests, can use one etcd side by side). Open it with Open, or from a
// --store URL with ParseURL (etcd://HOST:2379[,HOST:2379...][/PREFIX]).
//
// # Keys
//
// Under the prefix P (DefaultPrefix, /bpfnet/, unless the URL names one),
// records are JSON of the model types and every index value is the ID of
// the one record that holds the entry:
//
//	P/store/schema                         "1": the layout of the keys below
//	P/networks/<network ID>                model.Network
//	P/network-names/<name>                 network ID
//	P/containers/<container ID>            model.Container (ports not in it)
//	P/container-names/<name>               container ID
//	P/ips/<network ID>/<172.018.000.002>   container ID
//	P/slots/<0000000003>                   container ID
//	P/ports/<tcp>/<08080>/<000.000.000.000> container ID holding the host binding
//	P/published/<container ID>/<binding>   the mapping as a -p spec, 0.0.0.0:8080:80/tcp
//	P/meta/<key>                           the caller's values (Meta, PutMeta)
//	P/lock/<lease>                         the cluster lock's holder and waiters
//
// Numbers and address bytes are zero-padded, so keys sort as the numbers
// do: UsedIPs reads addresses in increasing order, FreeSlot walks slots in
// order, a protocol's bindings sort by port. Each read of the interface is
// one request: a Get (Container, Meta), a range over one directory (Load,
// Containers, UsedIPs, NetworkContainers, Ports, WithPortIndex, FreeSlot)
// or one transaction of two Gets (ContainerID).
//
// # Writes
//
// Apply is one etcd transaction: every key of a change, records and index
// entries, carries the same revision. It is planned on two reads (the
// records replaced, then the index keys old and new records name) and
// commits only if each key read is unchanged, by comparing mod revisions.
// A writer racing another for the last address, a name or a host port
// therefore either wins or gets a *ConflictError (store.ErrConflict), with
// nothing written. An index entry held by another record is a conflict
// too: entries are unique across every host of the cluster.
//
// Lock and Unlock are the cluster's instance lock: a concurrency.Mutex on
// a lease. Callers that read, decide and Apply hold it; Apply then also
// checks that the lock is still its holder's.
//
// # Watching
//
// An agent can follow the cluster with one watch on P/networks/ and one on
// P/containers/ (or one on P/ from a revision, to see index keys too): a
// change arrives as the events of one revision, whole, and a restarted
// watch resumes from the last revision it saw. Nothing here watches yet.
//
// # Failures
//
// Every request is bounded (Options.Timeout, 5 s by default); one etcd did
// not answer is an *UnreachableError naming the endpoints ("etcd at
// 127.0.0.1:2379 unreachable: ..."). Records that do not decode, index
// entries that disagree with the records and unknown keys are
// store.ErrDamaged; Verify looks for all of them.
package etcdstore
