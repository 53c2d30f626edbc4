// Command helper is the child process of the execenv and exec tests. It
// appends what it sees to a log file (one line per event) and waits, exits
// or misbehaves as its flags say.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	logFile := flag.String("log", "", "append events to this file")
	prefix := flag.String("env-prefix", "T_", "log the variables with this prefix")
	exit := flag.Int("exit", -1, "exit at once with this code")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM")
	orphans := flag.Int("orphans", 0, "leave this many orphans that exit after 50ms, then count zombies")
	sleep := flag.Duration("sleep", 0, "with -orphans: exit after this long")
	straggler := flag.Bool("straggler", false, "start a child in the group that ignores SIGTERM and lives 30s")
	flag.Parse()
	logf := func(format string, a ...any) {
		if *logFile == "" {
			return
		}
		f, err := os.OpenFile(*logFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			os.Exit(99)
		}
		fmt.Fprintf(f, format+"\n", a...)
		f.Close()
	}
	if os.Getenv("HELPER_ROLE") == "orphan" {
		time.Sleep(50 * time.Millisecond)
		return
	}
	if os.Getenv("HELPER_ROLE") == "straggler" {
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(30 * time.Second)
		return
	}
	if os.Getenv("HELPER_ROLE") == "spawner" {
		for range *orphans {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "HELPER_ROLE=orphan")
			_ = cmd.Start() // never waited: it becomes an orphan when we exit
		}
		return
	}
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, *prefix) {
			env = append(env, e)
		}
	}
	sort.Strings(env)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGINT)
	if *straggler {
		self, err := os.Executable() // argv[0] is a bare name here
		if err != nil {
			os.Exit(96)
		}
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), "HELPER_ROLE=straggler")
		if err := cmd.Start(); err != nil {
			os.Exit(97)
		}
		logf("straggler pid=%d", cmd.Process.Pid)
	}
	logf("start pid=%d pgid=%d env=%s", os.Getpid(), syscall.Getpgrp(), strings.Join(env, ","))
	if *exit >= 0 {
		os.Exit(*exit)
	}
	if *orphans > 0 {
		cmd := exec.Command(os.Args[0], "-orphans", fmt.Sprint(*orphans))
		cmd.Env = append(os.Environ(), "HELPER_ROLE=spawner")
		if err := cmd.Run(); err != nil {
			os.Exit(98)
		}
		time.Sleep(*sleep)
		z := zombies()
		logf("zombies=%d", z)
		os.Exit(40 + z)
	}
	for sig := range sigs {
		logf("signal %s", sig)
		if sig == syscall.SIGTERM && *ignoreTerm {
			continue
		}
		if sig == syscall.SIGTERM || sig == syscall.SIGINT {
			os.Exit(0)
		}
		if sig == syscall.SIGUSR1 {
			os.Exit(7)
		}
	}
}

// zombies counts the processes in state Z in /proc.
func zombies() int {
	n := 0
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 && i+2 < len(s) && s[i+2] == 'Z' {
			n++
		}
	}
	return n
}
