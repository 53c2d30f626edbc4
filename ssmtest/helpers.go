package ssmtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Put stores a new version of a parameter in region ("" = the default) of
// type typ (TypeString, TypeStringList, TypeSecureString), as
// PutParameter with Overwrite does, and returns its version. The error is
// AWS's (a bad name, type or value; never the value).
func (srv *Server) Put(region, name, typ, value string) (int64, error) {
	return srv.put(srv.resolveRegion(region), putIn{Name: name, Type: typ, Value: value, Overwrite: true})
}

// Label puts labels on version n of a parameter (0 = the latest), moving
// each from the version that had it, as LabelParameterVersion does.
func (srv *Server) Label(region, name string, n int64, labels ...string) error {
	_, invalid, err := srv.label(srv.resolveRegion(region), name, n, labels)
	if err == nil && len(invalid) > 0 {
		err = fmt.Errorf("ssmtest: invalid labels %q", invalid)
	}
	return err
}

// Delete removes a parameter; it reports whether there was one.
func (srv *Server) Delete(region, name string) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	r := srv.resolveRegion(region)
	_, ok := srv.regions[r][name]
	delete(srv.regions[r], name)
	return ok
}

// Names returns the names of the parameters of region, sorted.
func (srv *Server) Names(region string) []string {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var out []string
	for n := range srv.regions[srv.resolveRegion(region)] {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// LoadJSON stores the parameters of a JSON object in region: each member
// is a name and either a JSON string (a String parameter) or an object
// {"type": "String"|"StringList"|"SecureString", "value": "..."}. Nothing
// is stored if the document or any entry is invalid; the error names the
// parameter, never its value.
func (srv *Server) LoadJSON(region string, data []byte) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("ssmtest: parameters file: invalid JSON at byte %d", se.Offset)
		}
		return errors.New("ssmtest: parameters file: want a JSON object of name to a string or to {\"type\": ..., \"value\": ...}")
	}
	names := make([]string, 0, len(doc))
	for n := range doc {
		names = append(names, n)
	}
	slices.Sort(names)
	ins := make([]putIn, 0, len(names))
	for _, n := range names {
		in := putIn{Name: n, Type: TypeString, Overwrite: true}
		if err := json.Unmarshal(doc[n], &in.Value); err != nil {
			var obj struct {
				Type  string `json:"type"`
				Value string `json:"value"`
			}
			if err := json.Unmarshal(doc[n], &obj); err != nil {
				return fmt.Errorf("ssmtest: parameter %s: want a string or {\"type\": ..., \"value\": ...}", strconv.Quote(clipName(n)))
			}
			in.Type, in.Value = obj.Type, obj.Value
			if in.Type == "" {
				in.Type = TypeString
			}
		}
		if err := checkName(n); err != nil {
			return fmt.Errorf("ssmtest: parameter %s: %s", strconv.Quote(clipName(n)), err.(*apiError).msg)
		}
		switch in.Type {
		case TypeString, TypeStringList, TypeSecureString:
		default:
			return fmt.Errorf("ssmtest: parameter %s: type must be String, StringList or SecureString", strconv.Quote(clipName(n)))
		}
		if in.Value == "" || len(in.Value) > maxValue {
			return fmt.Errorf("ssmtest: parameter %s: value must be 1 to %d bytes", strconv.Quote(clipName(n)), maxValue)
		}
		ins = append(ins, in)
	}
	region = srv.resolveRegion(region)
	for _, in := range ins {
		if _, err := srv.put(region, in); err != nil {
			return fmt.Errorf("ssmtest: parameter %s: %w", strconv.Quote(clipName(in.Name)), err)
		}
	}
	return nil
}
