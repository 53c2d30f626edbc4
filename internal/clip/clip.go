// Package clip shortens strings quoted in messages and labels, never in
// the middle of a UTF-8 character. It is the one home of that rule; it does
// not escape or redact (values never reach a message in the first place).
package clip

import "unicode/utf8"

// Cut returns at most the first n bytes of s, cut back to a character
// boundary.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:max(n, 0)]
}

// String returns s, or its first n bytes (cut as Cut does) followed by
// "..." when it is longer.
func String(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Cut(s, n) + "..."
}

// ID bounds a secret id quoted in an error message: 64 bytes and "...".
func ID(id string) string { return String(id, 64) }
