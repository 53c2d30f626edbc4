package smtest

// Resource policies: stored and returned, never evaluated.

import (
	"context"
	"encoding/json"
)

type policyIn struct {
	SecretId          *string
	ResourcePolicy    *string
	BlockPublicPolicy *bool
}

func (srv *Server) opPutResourcePolicy(ctx context.Context, region string, in *policyIn) (any, []ChangeEvent, error) {
	if in.ResourcePolicy == nil {
		return nil, nil, errNull("resourcePolicy")
	}
	if !json.Valid([]byte(*in.ResourcePolicy)) {
		return nil, nil, apiErr("MalformedPolicyDocumentException", "This resource policy contains a syntax error.")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findWritable(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	p := *in.ResourcePolicy
	s.policy = &p
	return obj{}.put("ARN", s.arn).put("Name", s.name), srv.events(s, "PutResourcePolicy", nil), nil
}

func (srv *Server) opGetResourcePolicy(ctx context.Context, region string, in *secretIDIn) (any, []ChangeEvent, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.find(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	o := obj{}.put("ARN", s.arn).put("Name", s.name)
	if p := s.data().policy; p != nil {
		o["ResourcePolicy"] = *p
	}
	return o, nil, nil
}

func (srv *Server) opDeleteResourcePolicy(ctx context.Context, region string, in *secretIDIn) (any, []ChangeEvent, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, err := srv.findWritable(region, in.SecretId)
	if err != nil {
		return nil, nil, err
	}
	s.policy = nil
	return obj{}.put("ARN", s.arn).put("Name", s.name), srv.events(s, "DeleteResourcePolicy", nil), nil
}

func (srv *Server) opValidateResourcePolicy(ctx context.Context, region string, in *policyIn) (any, []ChangeEvent, error) {
	if in.ResourcePolicy == nil {
		return nil, nil, errNull("resourcePolicy")
	}
	if !json.Valid([]byte(*in.ResourcePolicy)) {
		return nil, nil, apiErr("MalformedPolicyDocumentException", "This resource policy contains a syntax error.")
	}
	return obj{"PolicyValidationPassed": true, "ValidationErrors": []obj{}}, nil, nil
}
