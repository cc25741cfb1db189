package cli

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names and messages come from the store, which an older bpfnet filled
// without checking names, or from a damaged file: printed raw, a control
// character in one could move the cursor or retitle the terminal of
// whoever lists it. Tables and messages therefore escape what is not
// printable. JSON is escaped by encoding/json, except for what
// escapeJSONControls adds.

// shown is s as a table prints it: s itself when every rune is printable,
// else Go-quoted ("web\x1b[2J"), so the column still shows what is stored.
func shown(s string) string {
	if printable(s, "") {
		return s
	}
	return strconv.Quote(s)
}

// shownMessage is an error message with its control characters escaped,
// its line breaks and tabs kept.
func shownMessage(s string) string {
	if printable(s, "\n\t") {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && strings.HasPrefix(s[i:], string(utf8.RuneError)):
			b.WriteRune(r) // a real U+FFFD
		case r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t' || unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

// printable is true when s is UTF-8 and every rune is printable or in keep.
func printable(s, keep string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && !strings.ContainsRune(keep, r) {
			return false
		}
	}
	return true
}

// escapeJSONControls rewrites DEL and the C1 controls (U+0080 to U+009F,
// among them the one-character CSI), which encoding/json passes through
// raw, as \u escapes. They can only stand inside JSON strings, so the
// result decodes to the same values.
func escapeJSONControls(data []byte) []byte {
	if !strings.ContainsFunc(string(data), isRawControl) {
		return data
	}
	var b strings.Builder
	for _, r := range string(data) {
		if isRawControl(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			b.WriteRune(r)
		}
	}
	return []byte(b.String())
}

func isRawControl(r rune) bool { return r == 0x7f || r >= 0x80 && r <= 0x9f }
