// Package execenv supervises one child process for "secretcache exec": it
// starts the program with an environment built from secrets, forwards the
// signals it receives to the child's process group, restarts the child (or
// only signals it) when the environment really changed, after a debounce
// and a random splay, and exits with the child's exit code. Run as PID 1 in
// a container it also reaps the orphans the kernel hands it, without taking
// the child's own exit status.
//
// It is not a process manager: one child, no restart on a crash (the child's
// exit is the supervisor's exit), no log handling (stdio is passed through).
// It knows no secrets either: the caller builds environments and sends new
// ones on a channel; the supervisor compares them and decides.
//
// The child runs in a process group of its own (Setpgid), so that signals
// reach the whole program (a shell and its children). A program that reads
// the terminal is therefore in a background group: exec is for services,
// not interactive programs.
package execenv
