package secretcache

import "strings"

// glob reports whether name matches pattern, where '*' matches any run of
// characters (including '/') and '?' matches one byte.
func glob(pattern, name string) bool {
	px, nx := 0, 0
	starP, starN := -1, 0
	for nx < len(name) {
		if px < len(pattern) {
			switch pattern[px] {
			case '*':
				starP, starN = px, nx
				px++
				continue
			case '?':
				px++
				nx++
				continue
			default:
				if pattern[px] == name[nx] {
					px++
					nx++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starN++
		px, nx = starP+1, starN
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// nameOf returns the secret name inside an ARN, or id itself. The 6-character
// random suffix AWS adds to ARNs is dropped when present.
func nameOf(id string) string {
	if !strings.HasPrefix(id, "arn:") {
		return id
	}
	i := strings.Index(id, ":secret:")
	if i < 0 {
		return id
	}
	n := id[i+len(":secret:"):]
	if j := len(n) - 7; j > 0 && n[j] == '-' {
		return n[:j]
	}
	return n
}
