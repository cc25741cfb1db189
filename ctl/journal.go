package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The journal makes every mutating command all or nothing across a kill.
// Before its first kernel change a command writes its intent to
// ROOT/journal: which namespace files and host veths it may create, the
// kernel objects that an orphan scan could not tell from another tool's.
// The commit that records the command's effect in the store removes the
// intent, and so does the command's own undo when it fails. An intent
// found by a later command means the command was killed: the kernel may
// hold part of its effect and the store none of it, so the next mutating
// command (or `system repair`) rolls it back: it removes what the intent
// names and the store does not hold, then reconciles the kernel with the
// store both ways. The file is written without fsync: it only has to
// outlive a process, and a reboot takes the kernel state it describes.

// Intent is a command in flight.
type Intent struct {
	Op      string    // the command, for messages
	Started time.Time // when it began
	Netns   []string  // namespace files it may create
	Veths   []string  // host-side veths it may create
}

func (in *Instance) journalPath() string { return filepath.Join(in.opts.Root, "journal") }

// begin records intent before the first kernel change of a command, then
// brings the host in line (hostInLine): a kill during that leaves the
// intent, and its roll back reconciles; a failure is the command's, which
// has changed nothing of its own yet.
func (in *Instance) begin(it Intent) error {
	if err := in.writeIntent(it); err != nil {
		return err
	}
	if err := in.hostInLine(); err != nil {
		in.end()
		return err
	}
	return nil
}

// writeIntent records it as the command's intent.
func (in *Instance) writeIntent(it Intent) error {
	it.Started = time.Now().UTC()
	data, err := json.Marshal(it)
	if err != nil {
		return fmt.Errorf("encode journal: %w", err)
	}
	tmp := in.journalPath() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write journal of %s: %w", it.Op, err)
	}
	if err := os.Rename(tmp, in.journalPath()); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write journal of %s: %w", it.Op, err)
	}
	in.pending = &it
	return in.step("journal: " + it.Op)
}

// end forgets the intent once the store holds the command's effect or
// its undo has run. A failure leaves it for the next command to roll back.
func (in *Instance) end() {
	if in.pending == nil {
		return
	}
	if err := os.Remove(in.journalPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(in.opts.Stderr, "bpfnet: warning: could not clear the journal (the next command rolls back %s): %v\n", in.pending.Op, err)
		return
	}
	in.pending = nil
}

// readJournal returns the intent of an interrupted command, if any. An
// intent that does not decode (a kill mid-write cannot make one: the
// file is renamed into place) still means a command was interrupted.
func readJournal(path string) (*Intent, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	it := new(Intent)
	if err := json.Unmarshal(data, it); err != nil {
		return &Intent{Op: "unknown (the journal does not decode)"}, nil
	}
	return it, nil
}
