package agent

import (
	"errors"
	"testing"

	"github.com/secretcache/secretcache"
)

// Every error kind of the core has its answer, with a status, a code and a
// message, and classify gives it.
func TestEveryKindHasAnAnswer(t *testing.T) {
	for _, kind := range secretcache.Kinds() {
		want, ok := kindAnswers[kind]
		if !ok {
			t.Errorf("kind %s has no answer in kindAnswers", secretcache.KindName(kind))
			continue
		}
		got := classify(secretcache.NewError(kind, "app/x", errors.New("cause")))
		if got.status < 400 || got.code == "" || got.message == "" {
			t.Errorf("kind %s: answer %+v", secretcache.KindName(kind), got)
		}
		if kind != secretcache.ErrInvalidRequest && got != want {
			t.Errorf("kind %s: classify = %+v, want %+v", secretcache.KindName(kind), got, want)
		}
	}
	if len(kindAnswers) != len(secretcache.Kinds()) {
		t.Errorf("kindAnswers has %d entries for %d kinds", len(kindAnswers), len(secretcache.Kinds()))
	}
}
