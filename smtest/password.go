package smtest

import (
	"context"
	"crypto/rand"
	"math/big"
	"strings"
)

const (
	lowerChars = "abcdefghijklmnopqrstuvwxyz"
	upperChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digitChars = "0123456789"
	punctChars = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
)

func randRead(b []byte) { _, _ = rand.Read(b) }

func randIndex(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0
	}
	return int(v.Int64())
}

func randomPassword(n int, charset string) string {
	r := []rune(charset)
	out := make([]rune, n)
	for i := range out {
		out[i] = r[randIndex(len(r))]
	}
	return string(out)
}

type randomPasswordIn struct {
	PasswordLength          *int64
	ExcludeCharacters       *string
	ExcludeNumbers          *bool
	ExcludePunctuation      *bool
	ExcludeUppercase        *bool
	ExcludeLowercase        *bool
	IncludeSpace            *bool
	RequireEachIncludedType *bool
}

func flag(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func (srv *Server) opGetRandomPassword(ctx context.Context, region string, in *randomPasswordIn) (any, []ChangeEvent, error) {
	n := int64(32)
	if in.PasswordLength != nil {
		n = *in.PasswordLength
		if n < 1 || n > 4096 {
			return nil, nil, errRange("passwordLength", 1, 4096)
		}
	}
	exclude := str(in.ExcludeCharacters)
	if len(exclude) > 4096 {
		return nil, nil, errTooLong("excludeCharacters", 4096)
	}
	keep := func(set string) string {
		return strings.Map(func(r rune) rune {
			if strings.ContainsRune(exclude, r) {
				return -1
			}
			return r
		}, set)
	}
	var classes []string
	if !flag(in.ExcludeLowercase, false) {
		classes = append(classes, keep(lowerChars))
	}
	if !flag(in.ExcludeUppercase, false) {
		classes = append(classes, keep(upperChars))
	}
	if !flag(in.ExcludeNumbers, false) {
		classes = append(classes, keep(digitChars))
	}
	if !flag(in.ExcludePunctuation, false) {
		classes = append(classes, keep(punctChars))
	}
	if flag(in.IncludeSpace, false) {
		classes = append(classes, keep(" "))
	}
	var all strings.Builder
	nonEmpty := 0
	for _, c := range classes {
		if c != "" {
			nonEmpty++
			all.WriteString(c)
		}
	}
	if all.Len() == 0 {
		return nil, nil, apiErr(codeInvalidParam, "The password has no characters left to use: every character type is excluded.")
	}
	require := flag(in.RequireEachIncludedType, true)
	if require && int64(nonEmpty) > n {
		return nil, nil, apiErr(codeInvalidParam, "Password length is too short based on the required types.")
	}
	pw := []rune(randomPassword(int(n), all.String()))
	if require {
		// Put one character of each type at distinct random positions.
		pos := make([]int, len(pw))
		for i := range pos {
			pos[i] = i
		}
		for i := len(pos) - 1; i > 0; i-- {
			j := randIndex(i + 1)
			pos[i], pos[j] = pos[j], pos[i]
		}
		k := 0
		for _, c := range classes {
			if c == "" {
				continue
			}
			r := []rune(c)
			pw[pos[k]] = r[randIndex(len(r))]
			k++
		}
	}
	return obj{"RandomPassword": string(pw)}, nil, nil
}
