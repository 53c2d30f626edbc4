package smtest

import (
	"strings"
	"unicode"
)

// Filters of ListSecrets and BatchGetSecretValue, as the ListSecrets
// reference describes them: within one filter the values are ORed, the
// filters are ANDed, a value starting with "!" negates, and
//
//	name, tag-key, tag-value, primary-region, owning-service: prefix match, case-sensitive
//	description: prefix match, not case-sensitive
//	all: the value is split into words, each of which must prefix-match a
//	     word of the name, description, tag keys or tag values, not case-sensitive

var filterKeys = []string{"description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"}

// filterIn is one filter of a request.
type filterIn struct {
	Key    *string
	Values []string
}

func checkFilters(filters []filterIn) error {
	if len(filters) > 10 {
		return errTooLong("filters", 10)
	}
	for i, f := range filters {
		if f.Key == nil {
			return apiErr(codeInvalidParam, "Invalid filter key")
		}
		ok := false
		for _, k := range filterKeys {
			ok = ok || *f.Key == k
		}
		if !ok {
			return apiErr(codeValidation, "1 validation error detected: Value '%s' at 'filters.%d.member.key' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
				*f.Key, i+1, strings.Join(filterKeys, ", "))
		}
		if f.Values == nil {
			return apiErr(codeInvalidParam, "Invalid filter values for key: %s", *f.Key)
		}
		if len(f.Values) > 10 {
			return errTooLong("filters.member.values", 10)
		}
		for _, v := range f.Values {
			if len(v) > 512 {
				return errTooLong("filters.member.values.member", 512)
			}
		}
	}
	return nil
}

func matchFilters(s *secret, filters []filterIn) bool {
	for _, f := range filters {
		if !matchFilter(s, *f.Key, f.Values) {
			return false
		}
	}
	return true
}

func matchFilter(s *secret, key string, values []string) bool {
	d := s.data()
	var attrs []string
	fold := false
	switch key {
	case "name":
		attrs = []string{s.name}
	case "description":
		if d.description != "" {
			attrs = []string{d.description}
		}
		fold = true
	case "tag-key":
		for _, t := range d.tags {
			attrs = append(attrs, t.Key)
		}
	case "tag-value":
		for _, t := range d.tags {
			attrs = append(attrs, t.Value)
		}
	case "primary-region":
		switch {
		case s.primary != nil:
			attrs = []string{s.primary.region}
		case len(s.replicas) > 0:
			attrs = []string{s.region}
		}
	case "owning-service":
		if o := s.owningService(); o != "" {
			attrs = []string{o}
		}
	case "all":
		attrs = append(attrs, s.name, d.description)
		for _, t := range d.tags {
			attrs = append(attrs, t.Key, t.Value)
		}
	}
	for _, v := range values {
		neg := strings.HasPrefix(v, "!")
		pat := strings.TrimPrefix(v, "!")
		var hit bool
		if key == "all" {
			hit = matchWords(pat, attrs)
		} else {
			for _, a := range attrs {
				if fold {
					hit = hit || strings.HasPrefix(strings.ToLower(a), strings.ToLower(pat))
				} else {
					hit = hit || strings.HasPrefix(a, pat)
				}
			}
		}
		if hit != neg {
			return true
		}
	}
	return false
}

// matchWords reports whether every word of pattern prefix-matches a word of
// one of attrs, ignoring case.
func matchWords(pattern string, attrs []string) bool {
	pws := words(pattern)
	if len(pws) == 0 {
		return false
	}
	var aws []string
	for _, a := range attrs {
		aws = append(aws, words(a)...)
	}
	for _, p := range pws {
		found := false
		for _, a := range aws {
			if strings.HasPrefix(a, p) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// words splits s into lower-case words at non-alphanumeric characters and
// at lower-to-upper case changes ("myDBPassword" -> my, dbpassword).
func words(s string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	var prev rune
	for _, r := range s {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
		prev = r
	}
	flush()
	return out
}
