package smtest

// What the API operations share: request checks, lookups and change events.
// Each operation decodes its request into an input shape (the *In types,
// next to the operation) whose pointers tell an absent member from an empty
// one.

import (
	"slices"
	"time"
)

type secretIDIn struct {
	SecretId *string
}

func requireID(field string, id *string) (string, error) {
	if id == nil {
		return "", errNull(field)
	}
	if *id == "" {
		return "", errTooShort(field, 1)
	}
	if len(*id) > 2048 {
		return "", errTooLong(field, 2048)
	}
	return *id, nil
}

func checkToken(tok *string) error {
	if tok == nil {
		return nil
	}
	if n := len(*tok); n < 32 || n > 64 {
		return apiErr(codeInvalidParam, "ClientRequestToken must be 32-64 characters long.")
	}
	return nil
}

func checkValue(str *string, bin []byte, required bool) error {
	if str != nil && bin != nil {
		return apiErr(codeInvalidParam, "You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	if str == nil && bin == nil {
		if required {
			return apiErr(codeInvalidReq, "You must provide either SecretString or SecretBinary.")
		}
		return nil
	}
	// AWS rejects values above 65,536 bytes; moto accepts them.
	if str != nil {
		if len(*str) == 0 {
			return errTooShort("secretString", 1)
		}
		if len(*str) > maxValueBytes {
			return errTooLong("secretString", maxValueBytes)
		}
	}
	if bin != nil {
		if len(bin) == 0 {
			return errTooShort("secretBinary", 1)
		}
		if len(bin) > maxValueBytes {
			return errTooLong("secretBinary", maxValueBytes)
		}
	}
	return nil
}

// checkPut checks what PutSecretValue and UpdateSecret take alike: the
// secret id, the token and the value (required by PutSecretValue only).
func checkPut(id, token, str *string, bin []byte, required bool) error {
	if _, err := requireID("secretId", id); err != nil {
		return err
	}
	if err := checkToken(token); err != nil {
		return err
	}
	return checkValue(str, bin, required)
}

func checkDescription(d *string) error {
	if d != nil && len(*d) > 2048 {
		return errTooLong("description", 2048)
	}
	return nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func cloneStr(p *string) *string {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func day(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// find looks a secret up for a read: it must exist.
func (srv *Server) find(region string, id *string) (*secret, error) {
	sid, err := requireID("secretId", id)
	if err != nil {
		return nil, err
	}
	s := srv.lookup(region, sid)
	if s == nil {
		return nil, errSecretNotFound()
	}
	return s, nil
}

// findPrimary looks a secret up for a change that replicas refuse: it must
// exist and be a primary.
func (srv *Server) findPrimary(region string, id *string) (*secret, error) {
	s, err := srv.find(region, id)
	if err != nil {
		return nil, err
	}
	if s.primary != nil {
		return nil, errReplica()
	}
	return s, nil
}

// findWritable looks a secret up for a write: it must exist, be a primary
// and not be scheduled for deletion.
func (srv *Server) findWritable(region string, id *string) (*secret, error) {
	s, err := srv.findPrimary(region, id)
	if err != nil {
		return nil, err
	}
	if s.deleted() {
		return nil, errMarkedDeleted()
	}
	return s, nil
}

// events builds the change events of a write to primary s: one for its own
// region and one for each replica region.
func (srv *Server) events(s *secret, op string, v *version) []ChangeEvent {
	mk := func(region, arn string) ChangeEvent {
		ev := ChangeEvent{Region: region, Op: op, Name: s.name, ARN: arn}
		if v != nil {
			ev.VersionID = v.id
			ev.Stages = slices.Clone(v.stages)
		}
		return ev
	}
	evs := []ChangeEvent{mk(s.region, s.arn)}
	for _, r := range s.replicas {
		if rs := srv.regions[r.region]; rs != nil {
			if rep := rs.secrets[s.name]; rep != nil && rep.primary == s {
				evs = append(evs, mk(r.region, rep.arn))
			}
		}
	}
	return evs
}
