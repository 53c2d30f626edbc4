package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"

	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/smtest"
	"github.com/secretcache/secretcache/ssmtest"
)

// The Lambda extension's Parameter Store endpoint, in front of the ssmtest
// fake. In production the Parameter Store source is built on the same AWS
// configuration as the Secrets Manager one; WithParameterAWSConfig points
// it elsewhere.
func ExampleWithParameterAWSConfig() {
	sm := smtest.NewServer()
	defer sm.Close()
	ssm := ssmtest.NewServer()
	defer ssm.Close()
	_, _ = ssm.Put("", "/app/mode", ssmtest.TypeString, "blue")

	cfg := agent.DefaultConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Parameters.TTLSeconds = 60 // [parameters] ttl_seconds, or SSM_PARAMETER_STORE_TTL
	a, err := agent.New(context.Background(), cfg,
		agent.WithAWSConfig(sm.AWSConfig("")),
		agent.WithParameterAWSConfig(ssm.AWSConfig("")),
		agent.WithToken("my-token-0123456789"),
		agent.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	for _, target := range []string{"/systemsmanager/parameters/get?name=/app/mode", "/systemsmanager/parameters/get?name=/app/none"} {
		req := httptest.NewRequest("GET", "http://localhost"+target, nil)
		req.Header.Set("X-Aws-Parameters-Secrets-Token", "my-token-0123456789")
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		body := rec.Body.String()
		if i := strings.Index(body, `"LastModifiedDate"`); i >= 0 { // a date: not stable
			body = body[:i] + body[strings.Index(body, `"Name"`):]
		}
		fmt.Println(rec.Code, strings.ReplaceAll(body, `"ARN":"arn:aws:ssm:us-east-1:123456789012:parameter/app/mode",`, ""))
	}
	// Output:
	// 200 {"Parameter":{"DataType":"text","Name":"/app/mode","Selector":null,"SourceResult":null,"Type":"String","Value":"blue","Version":1},"ResultMetadata":{}}
	// 400 {"__type":"ParameterNotFound", "message":"Parameter /app/none not found."}
}
