package clip

import "testing"

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		s       string
		n       int
		cut, st string
	}{
		{"", 3, "", ""},
		{"abc", 3, "abc", "abc"},
		{"abcd", 3, "abc", "abc..."},
		{"aé", 2, "a", "a..."}, // é is 2 bytes: never split
		{"éé", 0, "", "..."},
	} {
		if got := Cut(tc.s, tc.n); got != tc.cut {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.cut)
		}
		if got := String(tc.s, tc.n); got != tc.st {
			t.Errorf("String(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.st)
		}
	}
	if got := ID(string(make([]byte, 100))); len(got) != 67 {
		t.Errorf("ID of 100 bytes has %d bytes, want 67", len(got))
	}
}
