package smtest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

var errTODO = errors.New("smtest: not implemented yet")

// Server is an in-process fake of AWS Secrets Manager.
type Server struct {
	// URL is the base URL of the server, e.g. http://127.0.0.1:43123.
	URL string

	cfg config
	ln  net.Listener
	srv *http.Server
}

type config struct {
	region  string
	account string
	logger  *slog.Logger
	now     func() time.Time
}

// Option configures a Server.
type Option func(*config)

// WithDefaultRegion sets the region used when a Go helper is given region "".
func WithDefaultRegion(region string) Option { return func(c *config) { c.region = region } }

// WithAccountID sets the account ID used in ARNs.
func WithAccountID(id string) Option { return func(c *config) { c.account = id } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithClock sets the clock.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// NewServer starts a server.
func NewServer(opts ...Option) *Server {
	s := &Server{}
	for _, o := range opts {
		o(&s.cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("smtest: cannot listen: " + err.Error())
	}
	s.ln = ln
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: http.NotFoundHandler()}
	go func() { _ = s.srv.Serve(ln) }()
	return s
}

// Close stops the server.
func (s *Server) Close() { _ = s.srv.Close() }

// SecretInfo is a snapshot of a secret.
type SecretInfo struct {
	ARN  string
	Name string
}

func (s *Server) CreateSecret(region, name, value string) (string, error) { return "", errTODO }
func (s *Server) CreateBinarySecret(region, name string, value []byte) (string, error) {
	return "", errTODO
}
func (s *Server) PutSecretValue(region, name, value string, stages ...string) (string, error) {
	return "", errTODO
}
func (s *Server) UpdateStage(region, name, stage, moveToVersionID, removeFromVersionID string) error {
	return errTODO
}
func (s *Server) DeleteSecret(region, name string, force bool) error           { return errTODO }
func (s *Server) Secret(region, nameOrARN string) (SecretInfo, bool)           { return SecretInfo{}, false }
func (s *Server) Value(region, nameOrARN, stage string) (string, bool)         { return "", false }
func (s *Server) Replicate(name, fromRegion string, toRegions ...string) error { return errTODO }
func (s *Server) LoadJSON(region string, data []byte) error                    { return errTODO }
func (s *Server) LoadFile(region, path string) error                           { return errTODO }

// RotationStep is one step of a rotation.
type RotationStep struct {
	Region, SecretID, Token, Step string
}

// RotationFunc is a fake rotation Lambda.
type RotationFunc func(ctx context.Context, step RotationStep) error

func (s *Server) SetRotationFunc(fn RotationFunc) {}
func (s *Server) Rotate(ctx context.Context, region, name string) (string, error) {
	return "", errTODO
}

func (s *Server) Calls(region, op string) int { return 0 }
func (s *Server) ResetCalls()                 {}

// Fault is an injected failure.
type Fault struct {
	Latency       time.Duration
	ErrorCode     string
	Blackhole     bool
	Reset         bool
	RatePerSecond float64
	Count         int
}

func (s *Server) SetFault(region, op string, f Fault) {}
func (s *Server) ClearFault(region, op string)        {}
func (s *Server) ClearFaults()                        {}

// ChangeEvent describes a write.
type ChangeEvent struct {
	Region, Op, Name, ARN, VersionID string
	Stages                           []string
}

func (s *Server) OnChange(fn func(ChangeEvent)) (remove func()) { return func() {} }

func (s *Server) AWSConfig(region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(s.URL),
	}
}

func (s *Server) Client(region string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(s.AWSConfig(region))
}
