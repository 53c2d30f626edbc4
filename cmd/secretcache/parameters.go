package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/ssmtest"
)

// Demo parameters of --dev. The values are fake and printed nowhere.
var demoParameters = []struct{ name, typ, value string }{
	{"/demo/config/url", ssmtest.TypeString, "https://demo.example.test"},
	{"/demo/config/hosts", ssmtest.TypeStringList, "db1.demo.test,db2.demo.test"},
	{"/demo/db/password", ssmtest.TypeSecureString, "demo-parameter-not-secret"},
}

// startDevParameters starts --dev's Parameter Store emulator (linked to the
// Secrets Manager one, for /aws/reference/secretsmanager/ names), seeds it
// from the --dev-parameters file or with the demo parameters, and returns
// the agent option that points the parameters endpoint at it.
func startDevParameters(d *devMode, region, file, flag string) (agent.Option, error) {
	srv := ssmtest.NewServer(ssmtest.WithDefaultRegion(region), ssmtest.WithSecretsManager(d.srv))
	if file != "" {
		data, err := os.ReadFile(file)
		if err == nil {
			err = srv.LoadJSON(region, data)
		}
		if err != nil {
			srv.Close()
			return nil, fmt.Errorf("%s %s: %w", flag, file, err)
		}
		d.paramsFrom = file
	} else {
		for _, p := range demoParameters {
			if _, err := srv.Put(region, p.name, p.typ, p.value); err != nil {
				srv.Close()
				return nil, err
			}
		}
		d.paramsFrom = "demo parameters"
	}
	d.ssm = srv
	return agent.WithParameterAWSConfig(srv.AWSConfig(region)), nil
}

// parameterBanner prints the Parameter Store emulator's line (try false)
// or a request for its first parameter (try true).
func (d *devMode) parameterBanner(w io.Writer, api, hdr string, try bool) {
	if d.ssm == nil {
		return
	}
	names := d.ssm.Names("")
	switch {
	case !try:
		fmt.Fprintf(w, "  parameters %s (%s), %d parameters: %s\n", d.ssm.URL, d.paramsFrom, len(names), strings.Join(firstN(names, 8), ", "))
	case len(names) > 0:
		fmt.Fprintf(w, "  curl -s -H '%s' '%s/systemsmanager/parameters/get?name=%s&withDecryption=true'\n", hdr, api, names[len(names)-1])
	}
}
