package sqlsecret

import (
	"context"
	"database/sql/driver"
	"errors"
	"slices"
	"time"

	"github.com/secretcache/secretcache/internal/awsname"
)

// stageRetry is the step of a round that tries again the AWSPENDING
// versions refused before they may have been set in the database.
const stageRetry = "retry"

// steps are where connectFrom looks for credentials after a refusal, in
// order: two rounds of AWSCURRENT and AWSPENDING, each read afresh from
// Secrets Manager, the last good credentials, and the retries.
var steps = [...]string{awsname.StageCurrent, awsname.StagePending, StageLastGood, stageRetry,
	awsname.StageCurrent, awsname.StagePending, StageLastGood, stageRetry}

// secondRound is the index in steps of the second round's first step.
const secondRound = 4

// search finds the credentials to try after a refusal.
type search struct {
	step int
	// refused holds the versions refused so far.
	refused map[string]refused
	retries []candidate
	pending *candidate // the second round's AWSPENDING, read before its AWSCURRENT
}

// refused is a version the server refused in a Connect.
type refused struct {
	at int64 // unix nanos: the refused login began
	// again tells that it may be tried once more: refused as AWSPENDING, it
	// may not have been in the database yet.
	again bool
}

// refuse records that the server refused cand in the login begun at mark.
func (s *search) refuse(cand candidate, mark int64) {
	if s.refused == nil {
		s.refused = make(map[string]refused, defaultMaxAttempts)
	}
	_, before := s.refused[cand.version]
	s.refused[cand.version] = refused{at: mark, again: cand.unset && !before}
}

// load reads a stage as Secrets Manager has it since mark.
func (s *search) load(ctx context.Context, c *Connector, stage string, mark int64) (candidate, bool) {
	sec, err := c.fresh(ctx, stage, mark)
	if err != nil {
		return candidate{}, false
	}
	cand, err := c.parse(sec, stage)
	return cand, err == nil
}

// next returns the next credentials to try, or false when there are none
// left. The first round reads a stage as Secrets Manager has it since mark,
// the start of the refused login: a read that began after it, shared by
// all the connections refused since it began. The second round's reads
// begin after it starts, after every refusal and read so far (a login can
// take longer than a rotation step, and a read that began during it may
// predate the step that got it refused); they read AWSPENDING before
// AWSCURRENT, so that a version finishSecret moves from one label to the
// other between the two reads is seen by one of them.
func (s *search) next(ctx context.Context, c *Connector, mark int64) (candidate, bool) {
	for s.step < len(steps) && ctx.Err() == nil {
		if s.step == secondRound {
			mark = time.Now().UnixNano()
			if c.cfg.pending {
				if p, ok := s.load(ctx, c, awsname.StagePending, mark); ok {
					s.pending = &p
				}
			}
		}
		stage := steps[s.step]
		if stage == stageRetry {
			if len(s.retries) == 0 {
				s.step++
				continue
			}
			cand := s.retries[0]
			s.retries = s.retries[1:]
			if s.refused[cand.version].again {
				return cand, true
			}
			continue
		}
		s.step++
		if s.step == secondRound+1 {
			c.secondRounds.Add(1)
		}
		var cand candidate
		switch {
		case stage == StageLastGood:
			g := c.lastGood.Load()
			if !c.cfg.lastGood || g == nil {
				continue
			}
			cand = candidate{db: g.db, eng: g.eng, version: g.version, stage: StageLastGood}
		case stage == awsname.StagePending && !c.cfg.pending:
			continue
		case stage == awsname.StagePending && s.step > secondRound:
			if s.pending == nil {
				continue
			}
			cand = *s.pending
		default:
			var ok bool
			if cand, ok = s.load(ctx, c, stage, mark); !ok {
				continue
			}
		}
		r, seen := s.refused[cand.version]
		if !seen {
			return cand, true
		}
		if g := c.lastGood.Load(); r.again && g != nil && g.version == cand.version && g.at < r.at {
			// It connected before it was refused here: it was not waiting
			// for setSecret but rotated away.
			r.again = false
			s.refused[cand.version] = r
		}
		if r.again && !slices.ContainsFunc(s.retries, func(x candidate) bool { return x.version == cand.version }) {
			s.retries = append(s.retries, cand)
		}
	}
	return candidate{}, false
}

// connectFrom connects with cand, then with the other credentials as
// described at Connector.
func (c *Connector) connectFrom(ctx context.Context, cand candidate) (driver.Conn, error) {
	return recoverLogin(ctx, c, cand, c.dial)
}

// recoverLogin is the one recovery of every engine and pool: it calls dial
// with cand, then, while the server refuses the credentials (the
// candidate's engine tells, or an error matching ErrAuth), with the next
// ones search finds, at most cfg.maxAttempts times and never sleeping.
func recoverLogin[T any](ctx context.Context, c *Connector, cand candidate, dial func(context.Context, candidate) (T, error)) (T, error) {
	var s search
	var tried []Attempt
	var zero T
	for attempt := 1; ; attempt++ {
		mark := time.Now().UnixNano()
		conn, err := dial(ctx, cand)
		if err == nil {
			c.succeeded(cand)
			return conn, nil
		}
		tried = append(tried, Attempt{Stage: cand.stage, VersionID: cand.version})
		last := sanitize(cand.eng, err, c.id, cand.version, cand.stage, cand.db.Password, attempt)
		last.Tried = tried
		if !(cand.eng.refused(err) || errors.Is(err, ErrAuth)) || ctx.Err() != nil {
			return zero, last
		}
		if !errors.Is(last, ErrAuth) {
			last.errs = append(last.errs, ErrAuth)
		}
		c.authFailures.Add(1)
		s.refuse(cand, mark)
		switch cand.stage {
		case awsname.StageCurrent:
			c.refusal.Store(&refusal{version: cand.version, at: time.Now().UnixNano()})
		case StagePinned:
			c.pinRef.Store(&refusal{version: cand.version, at: time.Now().UnixNano()})
		}
		c.cfg.logger.Warn("sqlsecret: credentials refused", "secret", c.id, "version", cand.version,
			"stage", cand.stage, "engine", cand.eng.name, "code", last.Code, "attempt", attempt)
		if attempt >= c.cfg.maxAttempts {
			return zero, last
		}
		// Find the next credentials, never sleeping.
		var ok bool
		if cand, ok = s.next(ctx, c, mark); !ok {
			return zero, last
		}
	}
}
