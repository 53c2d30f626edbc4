//go:build unix

package execenv_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/secretcache/secretcache/internal/execenv"
)

// A program started with an environment; its exit code is Run's.
func ExampleSupervisor_Run() {
	s, err := execenv.New("/bin/sh", []string{"sh", "-c", `echo "greeting: $GREETING"; exit 3`},
		[]string{"GREETING=hello"}, execenv.WithStdio(nil, os.Stdout, os.Stderr), execenv.WithDebounce(time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	code, err := s.Run(context.Background(), nil, nil)
	fmt.Println("exit", code, err, "restarts", s.Restarts())
	// Output:
	// greeting: hello
	// exit 3 <nil> restarts 0
}
