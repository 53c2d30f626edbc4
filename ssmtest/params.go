package ssmtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/secretcache/secretcache/internal/awsjson"
)

// Limits AWS applies (standard tier).
const (
	maxValue     = 4096
	maxName      = 1011
	maxLabels    = 10 // labels per version
	maxBatch     = 10
	maxPage      = 10
	referenceDir = "/aws/reference/secretsmanager/"
)

// Parameter types.
const (
	TypeString       = "String"
	TypeStringList   = "StringList"
	TypeSecureString = "SecureString"
)

type param struct {
	name, typ, dataType string
	versions            []*version // versions[i].n == i+1
}

type version struct {
	n        int64
	value    string
	modified time.Time
	labels   []string
}

func (p *param) latest() *version { return p.versions[len(p.versions)-1] }

var ops = map[string]func(srv *Server, region string, body []byte) (any, error){
	"PutParameter":          (*Server).opPut,
	"GetParameter":          (*Server).opGet,
	"GetParameters":         (*Server).opGetMany,
	"GetParametersByPath":   (*Server).opByPath,
	"LabelParameterVersion": (*Server).opLabel,
	"DeleteParameter":       (*Server).opDelete,
}

func (srv *Server) arn(region, name string) string {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	return "arn:aws:ssm:" + region + ":" + srv.cfg.account + ":parameter" + name
}

func checkName(name string) error {
	switch {
	case name == "":
		return errf("ValidationException", "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(name) > maxName:
		return errf("ValidationException", "Parameter name must be at most 1011 characters.")
	case strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/", r))
	}):
		return errf("ValidationException", "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore).")
	case strings.Contains(name, "/") && !strings.HasPrefix(name, "/"):
		return errf("ValidationException", "Parameter name must be a fully qualified name.")
	}
	l := strings.ToLower(strings.TrimPrefix(name, "/"))
	if strings.HasPrefix(l, "aws") || strings.HasPrefix(l, "ssm") {
		return errf("AccessDeniedException", "No access to reserved parameter name: "+name+".")
	}
	return nil
}

type putIn struct {
	Name, Value, Type, DataType, KeyID string
	Overwrite                          bool
}

func (srv *Server) opPut(region string, body []byte) (any, error) {
	var in putIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := srv.put(region, in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Version": n, "Tier": "Standard"}, nil
}

func (srv *Server) put(region string, in putIn) (int64, error) {
	if err := checkName(in.Name); err != nil {
		return 0, err
	}
	if in.Value == "" {
		return 0, errf("ValidationException", "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(in.Value) > maxValue {
		return 0, errf("ValidationException", "Standard tier parameters support a maximum parameter value of 4096 characters.")
	}
	switch in.Type {
	case "", TypeString, TypeStringList, TypeSecureString:
	default:
		return 0, errf("ValidationException", "1 validation error detected: Value at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]")
	}
	switch in.DataType {
	case "", "text", "aws:ec2:image", "aws:ssm:integration":
	default:
		return 0, errf("ValidationException", "The following data type is not supported: "+strconv.Quote(in.DataType)+" (Data type names are all lowercase.)")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	reg := srv.regions[region]
	if reg == nil {
		reg = map[string]*param{}
		srv.regions[region] = reg
	}
	p := reg[in.Name]
	if p != nil && !in.Overwrite {
		return 0, errf("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
	}
	if p == nil {
		if in.Type == "" {
			return 0, errf("ValidationException", "A parameter type is required when you create a parameter.")
		}
		p = &param{name: in.Name}
		reg[in.Name] = p
	}
	if in.Type != "" {
		p.typ = in.Type
	}
	p.dataType = in.DataType
	if p.dataType == "" {
		p.dataType = "text"
	}
	if len(p.versions) >= 100 {
		return 0, errf("ParameterMaxVersionLimitExceeded", "You attempted to create a new version of "+in.Name+" by calling the PutParameter API with the overwrite flag. Version 1, the oldest version, can't be deleted because it has a label associated with it.")
	}
	v := &version{n: int64(len(p.versions) + 1), value: in.Value, modified: srv.cfg.now()}
	p.versions = append(p.versions, v)
	return v.n, nil
}

// lookup finds name[:selector] in region; the error is AWS's.
func (srv *Server) lookup(region, ref string) (*param, *version, string, error) {
	name, sel := ref, ""
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.HasPrefix(ref, "arn:") {
		name, sel = ref[:i], ref[i+1:]
	} else if strings.HasPrefix(ref, "arn:") {
		if j := strings.Index(ref, ":parameter/"); j >= 0 {
			rest := ref[j+len(":parameter"):]
			if k := strings.LastIndexByte(rest, ':'); k >= 0 {
				sel = rest[k+1:]
				rest = rest[:k]
			}
			name = rest
			if strings.Count(name, "/") == 1 {
				name = name[1:]
			}
		}
	}
	p := srv.regions[region][name]
	if p == nil {
		return nil, nil, "", errf("ParameterNotFound", "Parameter "+clipName(ref)+" not found.")
	}
	if sel == "" {
		return p, p.latest(), "", nil
	}
	if n, err := strconv.ParseInt(sel, 10, 64); err == nil {
		if n < 1 || n > int64(len(p.versions)) {
			return nil, nil, "", errf("ParameterVersionNotFound", "Systems Manager could not find version "+sel+" of "+clipName(name)+". Verify the version and try again.")
		}
		return p, p.versions[n-1], ":" + sel, nil
	}
	for _, v := range p.versions {
		if slices.Contains(v.labels, sel) {
			return p, v, ":" + sel, nil
		}
	}
	// A label no version has: ParameterNotFound (as moto answers; a
	// missing version is ParameterVersionNotFound).
	return nil, nil, "", errf("ParameterNotFound", "Parameter "+clipName(ref)+" not found.")
}

func clipName(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

// answer is the Parameter member of an answer.
func (srv *Server) answer(region string, p *param, v *version, sel string, decrypt bool) map[string]any {
	out := map[string]any{
		"Name": p.name, "Type": p.typ, "DataType": p.dataType, "Version": v.n,
		"ARN": srv.arn(region, p.name), "LastModifiedDate": awsjson.Epoch(v.modified), "Value": v.value,
	}
	if sel != "" {
		out["Selector"] = sel
	}
	if p.typ == TypeSecureString && !decrypt {
		out["Value"] = ciphertext(p.name, v)
	}
	return out
}

// ciphertext is what a SecureString reads as without decryption: an opaque
// token, not the value, as KMS ciphertext is.
func ciphertext(name string, v *version) string {
	h := sha256.Sum256([]byte(name + "\x00" + strconv.FormatInt(v.n, 10) + "\x00" + v.value))
	return "AQICAH" + base64.StdEncoding.EncodeToString(h[:])
}

type getIn struct {
	Name           string
	Names          []string
	WithDecryption bool
}

func (srv *Server) get(region, name string, decrypt bool) (map[string]any, error) {
	if strings.HasPrefix(name, referenceDir) {
		return srv.reference(region, name, decrypt)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	p, v, sel, err := srv.lookup(region, name)
	if err != nil {
		return nil, err
	}
	return srv.answer(region, p, v, sel, decrypt), nil
}

func (srv *Server) opGet(region string, body []byte) (any, error) {
	var in getIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, errf("ValidationException", "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must not be null")
	}
	p, err := srv.get(region, in.Name, in.WithDecryption)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Parameter": p}, nil
}

func (srv *Server) opGetMany(region string, body []byte) (any, error) {
	var in getIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Names) < 1 || len(in.Names) > maxBatch {
		return nil, errf("ValidationException", fmt.Sprintf("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to %d", maxBatch))
	}
	params, invalid := []map[string]any{}, []string{}
	seen := map[string]bool{}
	for _, n := range in.Names {
		if seen[n] {
			continue
		}
		seen[n] = true
		p, err := srv.get(region, n, in.WithDecryption)
		if err != nil {
			if ae, ok := err.(*apiError); ok && ae.code == "ValidationException" {
				return nil, err
			}
			invalid = append(invalid, n)
			continue
		}
		params = append(params, p)
	}
	return map[string]any{"Parameters": params, "InvalidParameters": invalid}, nil
}

type pathIn struct {
	Path             string
	Recursive        bool
	WithDecryption   bool
	MaxResults       *int
	NextToken        string
	ParameterFilters []json.RawMessage
}

func (srv *Server) opByPath(region string, body []byte) (any, error) {
	var in pathIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Path == "" || in.Path[0] != '/' {
		return nil, errf("ValidationException", "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".")
	}
	if len(in.ParameterFilters) > 0 {
		return nil, errf("ValidationException", "ssmtest: ParameterFilters are not supported")
	}
	size := maxPage
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > maxPage {
			return nil, errf("ValidationException", "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10")
		}
		size = *in.MaxResults
	}
	start := 0
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "ssmtest:"))
		if err != nil || err2 != nil || n < 0 || !strings.HasPrefix(string(b), "ssmtest:") {
			return nil, errf("ValidationException", "The specified token is not valid.")
		}
		start = n
	}
	prefix := strings.TrimSuffix(in.Path, "/") + "/"
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var names []string
	for n := range srv.regions[region] {
		rest, ok := strings.CutPrefix(n, prefix)
		if !ok || rest == "" || (!in.Recursive && strings.Contains(rest, "/")) {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names)
	start = min(start, len(names))
	end := min(len(names), start+size)
	params := []map[string]any{}
	for _, n := range names[start:end] {
		p := srv.regions[region][n]
		params = append(params, srv.answer(region, p, p.latest(), "", in.WithDecryption))
	}
	out := map[string]any{"Parameters": params}
	if end < len(names) {
		out["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte("ssmtest:" + strconv.Itoa(end)))
	}
	return out, nil
}

type labelIn struct {
	Name             string
	ParameterVersion *int64
	Labels           []string
}

func (srv *Server) opLabel(region string, body []byte) (any, error) {
	var in labelIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v int64
	if in.ParameterVersion != nil {
		v = *in.ParameterVersion
	}
	n, invalid, err := srv.label(region, in.Name, v, in.Labels)
	if err != nil {
		return nil, err
	}
	return map[string]any{"InvalidLabels": invalid, "ParameterVersion": n}, nil
}

func (srv *Server) label(region, name string, n int64, labels []string) (int64, []string, error) {
	if len(labels) < 1 || len(labels) > maxLabels {
		return 0, nil, errf("ValidationException", "1 validation error detected: Value at 'labels' failed to satisfy constraint: Member must have length between 1 and 10")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	p := srv.regions[region][name]
	if p == nil {
		return 0, nil, errf("ParameterNotFound", "Parameter "+clipName(name)+" not found.")
	}
	if n == 0 {
		n = p.latest().n
	}
	if n < 1 || n > int64(len(p.versions)) {
		return 0, nil, errf("ParameterVersionNotFound", "Systems Manager could not find version "+strconv.FormatInt(n, 10)+" of "+clipName(name)+". Verify the version and try again.")
	}
	target := p.versions[n-1]
	invalid := []string{}
	for _, l := range labels {
		if !validLabel(l) {
			invalid = append(invalid, l)
			continue
		}
		for _, v := range p.versions { // a label is on one version at most: it moves
			v.labels = slices.DeleteFunc(v.labels, func(x string) bool { return x == l })
		}
		if len(target.labels) >= maxLabels {
			return 0, nil, errf("ParameterVersionLabelLimitExceeded", "A parameter version can have maximum 10 labels.")
		}
		target.labels = append(target.labels, l)
	}
	return n, invalid, nil
}

func validLabel(l string) bool {
	low := strings.ToLower(l)
	if l == "" || len(l) > 100 || strings.HasPrefix(low, "aws") || strings.HasPrefix(low, "ssm") || (l[0] >= '0' && l[0] <= '9') {
		return false
	}
	return !strings.ContainsFunc(l, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	})
}

func (srv *Server) opDelete(region string, body []byte) (any, error) {
	var in getIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.regions[region][in.Name] == nil {
		return nil, errf("ParameterNotFound", "Parameter "+clipName(in.Name)+" not found.")
	}
	delete(srv.regions[region], in.Name)
	return map[string]any{}, nil
}

// reference answers /aws/reference/secretsmanager/ID[:STAGE] from the
// linked smtest server.
func (srv *Server) reference(region, name string, decrypt bool) (map[string]any, error) {
	if !decrypt {
		return nil, errf("ValidationException", "WithDecryption flag must be True for retrieving a Secret Manager secret.")
	}
	id, stage := strings.TrimPrefix(name, referenceDir), ""
	if i := strings.LastIndexByte(id, ':'); i >= 0 && !strings.HasPrefix(id, "arn:") {
		id, stage = id[:i], id[i+1:]
	}
	if srv.cfg.sm == nil || id == "" {
		return nil, errf("ParameterNotFound", "Parameter "+clipName(name)+" not found.")
	}
	info, ok := srv.cfg.sm.Secret(region, id)
	value, ok2 := srv.cfg.sm.Value(region, id, stage)
	if !ok || !ok2 || info.Deleted {
		return nil, errf("ParameterNotFound", "Secret "+clipName(id)+" not found.")
	}
	st := stage
	if st == "" {
		st = "AWSCURRENT"
	}
	vid := info.Stage(st)
	var created time.Time
	for _, v := range info.Versions {
		if v.VersionID == vid {
			created = v.CreatedDate
		}
	}
	src, _ := json.Marshal(map[string]any{"ARN": info.ARN, "Name": info.Name, "VersionId": vid,
		"VersionStages": []string{st}, "CreatedDate": awsjson.Epoch(created)})
	out := map[string]any{"Name": referenceDir + id, "Type": TypeSecureString, "DataType": "text", "Version": 0,
		"ARN": info.ARN, "LastModifiedDate": awsjson.Epoch(created), "Value": value, "SourceResult": string(src)}
	if stage != "" {
		out["Selector"] = ":" + stage
	}
	return out, nil
}
