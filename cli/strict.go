package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// strict makes the tree refuse what Docker's CLI refuses and cobra lets
// through: an unknown subcommand of a group (cobra checks only the
// root's), and a flag that takes one value given twice (pflag keeps the
// last in silence).
func strict(root *cobra.Command) {
	walk(root, func(c *cobra.Command) {
		if c.HasSubCommands() && !c.Runnable() {
			c.Args = cobra.ArbitraryArgs
			c.RunE = runGroup
			c.SuggestionsMinimumDistance = 2
		}
		c.LocalFlags().VisitAll(onceOnly)
		c.PersistentFlags().VisitAll(onceOnly)
	})
	root.SetGlobalNormalizationFunc(dockerSpellings)
}

// dockerSpellings are other names Docker's CLI takes for bpfnet's flags:
// one flag, so repeats collect (or are refused) as for the flag itself.
func dockerSpellings(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	switch name {
	case "network-alias":
		return "alias"
	case "net":
		return "network"
	}
	return pflag.NormalizedName(name)
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// runGroup is a group called alone (its help) or with a word that is none
// of its commands (an error, with cobra's suggestions).
func runGroup(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return c.Help()
	}
	msg := fmt.Sprintf("unknown command: %s %s", c.CommandPath(), args[0])
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return fmt.Errorf("%s\n\nRun '%s --help' for more information", msg, c.CommandPath())
}

// onceOnly wraps a flag that holds one value so that a second value is an
// error; flags that collect values (-p, --opt, --label...) and switches
// are left as they are.
func onceOnly(f *pflag.Flag) {
	if _, done := f.Value.(*once); done {
		return
	}
	typ := f.Value.Type()
	if typ == "bool" || typ == "count" || strings.Contains(typ, "Slice") ||
		strings.Contains(typ, "Array") || strings.Contains(typ, "To") {
		return
	}
	f.Value = &once{Value: f.Value}
}

type once struct {
	pflag.Value
	first *string
}

func (o *once) Set(s string) error {
	if o.first != nil {
		return fmt.Errorf("given twice (%q and %q): it takes one value", *o.first, s)
	}
	o.first = &s
	return o.Value.Set(s)
}
