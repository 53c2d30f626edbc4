// Package events turns Secrets Manager change events, delivered by an
// EventBridge rule to an SQS queue, into cache refreshes. It is not an
// event bus: it reads one queue and calls a Handler, nothing more.
//
// Parse understands the shapes Secrets Manager sends through EventBridge:
// the native "Secret Label Updated" event, CloudTrail's "AWS API Call via
// CloudTrail" (PutSecretValue, UpdateSecretVersionStage, UpdateSecret,
// DeleteSecret, RestoreSecret, RotateSecret) and "AWS Service Event via
// CloudTrail" (RotationSucceeded). A Consumer long-polls the queue, calls
// its Handler once per message and deletes the message only after the
// handler succeeded; a message that is not such an event is logged (its
// id and why, never its body) and deleted.
package events

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/secretcache/secretcache"
)

// MaxBody is the largest message body Parse reads (SQS's limit is 256 KiB).
const MaxBody = 256 << 10

// Event is one change to a secret.
type Event struct {
	SecretID  string // the secret's ARN when the event has one, else its id as the caller gave it
	VersionID string // the version concerned, when the event says
	Action    string // "Secret Label Updated", or the API call or service event name
}

// ErrForeign is the error of a well-formed event that is not a Secrets
// Manager change (another service, a read-only call): drop it.
var ErrForeign = errors.New("events: not a Secrets Manager change")

// changeCalls are the CloudTrail API calls that change what a read returns.
var changeCalls = map[string]bool{
	"PutSecretValue": true, "UpdateSecretVersionStage": true, "UpdateSecret": true,
	"DeleteSecret": true, "RestoreSecret": true, "RotateSecret": true,
}

type envelope struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

type detail struct {
	// native event
	Name      string `json:"name"`
	ARN       string `json:"arn"`
	VersionID string `json:"versionId"`
	// CloudTrail
	EventSource       string `json:"eventSource"`
	EventName         string `json:"eventName"`
	RequestParameters struct {
		SecretID        string `json:"secretId"`
		MoveToVersionID string `json:"moveToVersionId"`
	} `json:"requestParameters"`
	ResponseElements struct {
		ARN       string `json:"arn"`
		ARN2      string `json:"aRN"`
		VersionID string `json:"versionId"`
	} `json:"responseElements"`
	AdditionalEventData struct {
		SecretID  string `json:"SecretId"`
		SecretID2 string `json:"secretId"`
	} `json:"additionalEventData"`
	ServiceEventDetails struct {
		SecretID  string `json:"secretId"`
		SecretID2 string `json:"SecretId"`
		ARN       string `json:"secretArn"`
	} `json:"serviceEventDetails"`
}

func first(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Parse reads one EventBridge event (an SQS message body). A body that is
// empty, over MaxBody, not JSON or a Secrets Manager event without a valid
// secret id is an error saying why (never quoting the body); a well-formed
// event of another kind is ErrForeign.
func Parse(body []byte) (Event, error) {
	switch {
	case len(body) == 0:
		return Event{}, errors.New("events: empty message")
	case len(body) > MaxBody:
		return Event{}, fmt.Errorf("events: message of %d bytes, over the limit of %d", len(body), MaxBody)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Event{}, errors.New("events: message is not an EventBridge event (not a JSON object)")
	}
	if env.Source != "aws.secretsmanager" {
		return Event{}, ErrForeign
	}
	var d detail
	if len(env.Detail) == 0 || json.Unmarshal(env.Detail, &d) != nil {
		return Event{}, errors.New("events: Secrets Manager event without a detail object")
	}
	var ev Event
	switch env.DetailType {
	case "Secret Label Updated":
		ev = Event{SecretID: first(d.ARN, d.Name), VersionID: d.VersionID, Action: env.DetailType}
	case "AWS API Call via CloudTrail":
		if d.EventSource != "secretsmanager.amazonaws.com" || !changeCalls[d.EventName] {
			return Event{}, ErrForeign
		}
		ev = Event{SecretID: first(d.ResponseElements.ARN, d.ResponseElements.ARN2, d.RequestParameters.SecretID),
			VersionID: first(d.ResponseElements.VersionID, d.RequestParameters.MoveToVersionID), Action: d.EventName}
	case "AWS Service Event via CloudTrail":
		if d.EventName != "RotationSucceeded" {
			return Event{}, ErrForeign
		}
		ev = Event{SecretID: first(d.AdditionalEventData.SecretID, d.AdditionalEventData.SecretID2,
			d.ServiceEventDetails.ARN, d.ServiceEventDetails.SecretID, d.ServiceEventDetails.SecretID2), Action: d.EventName}
	default:
		return Event{}, ErrForeign
	}
	if err := secretcache.CheckID(ev.SecretID); err != nil {
		return Event{}, fmt.Errorf("events: %s event names no valid secret: %w", ev.Action, err)
	}
	if ev.VersionID != "" && secretcache.CheckID(ev.VersionID) != nil {
		ev.VersionID = "" // says nothing usable; the secret id still is
	}
	return ev, nil
}
