package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"text/template"
	"unicode"
)

// format is what --format asks of a listing, in Docker's words: "" or
// "table" (the command's own table), "json" (one object per line),
// "table TEMPLATE" (a header, then TEMPLATE per row, in columns) or any
// other Go template (per row, one line each).
type format struct {
	json  bool
	table bool               // with tmpl: a header row, tab-separated columns
	tmpl  *template.Template // nil: the command's own table or JSON
}

// templateFuncs are Docker's template functions (its templates package).
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(escapeJSONControls(b)), err
	},
	"split":    strings.Split,
	"join":     strings.Join,
	"title":    func(s string) string { return strings.ToUpper(s[:min(1, len(s))]) + s[min(1, len(s)):] },
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
	"truncate": func(s string, n int) string { return s[:min(n, len(s))] },
	"println":  fmt.Sprintln,
}

// parseFormat reads --format for rows shaped like zero. A template is
// tried on zero at once, so an unknown field is an error even when there
// is nothing to list, never a silent table.
func parseFormat(value string, zero any) (format, error) {
	switch value {
	case "", "table":
		return format{}, nil
	case "json":
		return format{json: true}, nil
	}
	f := format{}
	text := value
	if rest, ok := strings.CutPrefix(value, "table "); ok {
		f.table, text = true, rest
	}
	t, err := template.New("").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return f, fmt.Errorf("template parsing error: %w", err)
	}
	if err := t.Execute(io.Discard, zero); err != nil {
		return f, fmt.Errorf("template parsing error: %w", err)
	}
	f.tmpl = t
	return f, nil
}

// custom tells whether rows go through a template.
func (f format) custom() bool { return f.tmpl != nil }

// write prints rows through the template; headers names the columns of
// fields whose header is not their name in capitals (Docker's "NETWORK ID").
func (f format) write(w io.Writer, rows []any, headers map[string]string) error {
	var out io.Writer = w
	var tw *tabwriter.Writer
	if f.table {
		tw = tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		out = tw
		if len(rows) > 0 {
			if err := f.line(out, headerRow(rows[0], headers)); err != nil {
				return err
			}
		}
	}
	for _, row := range rows {
		if err := f.line(out, row); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// line is one row through the template, its control characters escaped
// (names come from the store), its tabs and line breaks kept.
func (f format) line(w io.Writer, row any) error {
	var b bytes.Buffer
	if err := f.tmpl.Execute(&b, row); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	_, err := fmt.Fprintln(w, shownMessage(strings.TrimSuffix(b.String(), "\n")))
	return err
}

// headerRow is the header a table template prints: each field's header in
// place of its value, as Docker's formatter does.
func headerRow(row any, headers map[string]string) map[string]string {
	out := map[string]string{}
	t := reflect.TypeOf(row)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Name
		if h, ok := headers[name]; ok {
			out[name] = h
		} else {
			out[name] = capitals(name)
		}
	}
	return out
}

// capitals is a field name as a header: "CreatedAt" is "CREATED AT".
func capitals(name string) string {
	var b strings.Builder
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) && !unicode.IsUpper(rune(name[i-1])) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// formatUsage is --format's help on every listing.
const formatUsage = `format output: "table", "json", "table TEMPLATE" or a Go TEMPLATE (Docker's)`

// writeRows prints a listing: IDs alone (-q), JSON lines, rows through
// the template, or the command's own table (header, then line per row).
func writeRows[R any](w io.Writer, f format, quiet bool, rows []R, headers map[string]string,
	id func(R) string, header string, line func(R) string) error {
	switch {
	case quiet:
		for _, r := range rows {
			if _, err := fmt.Fprintln(w, id(r)); err != nil {
				return err
			}
		}
		return nil
	case f.json:
		for _, r := range rows {
			b, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("encode JSON: %w", err)
			}
			if _, err := fmt.Fprintf(w, "%s\n", escapeJSONControls(b)); err != nil {
				return err
			}
		}
		return nil
	case f.custom():
		return f.write(w, anyRows(rows), headers)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, line(r))
	}
	return tw.Flush()
}

// tableOrJSON reads --format of a bpfnet-only command that has no
// template fields: json or the table, anything else an error.
func tableOrJSON(value string) (json bool, err error) {
	switch value {
	case "", "table":
		return false, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("unsupported --format %q: use json or table", value)
}
