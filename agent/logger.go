package agent

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/natefinch/lumberjack.v2"
)

// OpenLogger returns the logger the configuration asks for (log_level,
// log_format) and a function closing what it opened. With log_to_file it
// writes to log_file, rotated as the AWS agent rotates its log (a new file
// at 10 MB, 5 old ones kept, gzipped), created with
// mode 0600 in a directory created if needed; otherwise it writes to w
// (stderr). A log file that cannot be created is an error naming log_file;
// one in a directory every user may write to (not sticky) is refused, since
// anyone could replace it with a link to another file.
func (c *Config) OpenLogger(w io.Writer) (*slog.Logger, func() error, error) {
	if !c.LogToFile {
		return newLogger(c.LogLevel, c.LogFormat, w), func() error { return nil }, nil
	}
	path := c.LogFile
	if path == "" {
		path = defaultLogFile
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("log_to_file: cannot create the directory of log_file %s: %w", path, err)
	}
	if di, err := os.Stat(dir); err == nil && di.Mode().Perm()&0o002 != 0 && di.Mode()&fs.ModeSticky == 0 {
		return nil, nil, fmt.Errorf("log_to_file: the directory of log_file %s is writable by every user (mode %04o, not sticky); refused: choose another log_file", path, di.Mode().Perm())
	}
	lj := &lumberjack.Logger{Filename: path, MaxSize: logFileMaxMB, MaxBackups: logFileBackups, Compress: true}
	if _, err := lj.Write(nil); err != nil { // opens (or creates) the file now
		return nil, nil, fmt.Errorf("log_to_file: cannot open log_file %s: %w", path, err)
	}
	return newLogger(c.LogLevel, c.LogFormat, lj), lj.Close, nil
}

// logFileMaxMB and logFileBackups are the log file's rotation, as the AWS
// agent's: a new file at 10 MB, 5 old ones kept (gzipped).
const (
	logFileMaxMB   = 10
	logFileBackups = 5
)

// logLevels are the values of log_level (and the Lambda extension's
// PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL), any case.
var logLevels = []string{"debug", "info", "warn", "error", "none"}

// newLogger returns the logger the configuration asks for: level debug,
// info, warn, error or none (any case), format text or json, writing to w.
// An unknown level means info and an unknown format text (Config.Validate
// refuses both before this is reached).
func newLogger(level, format string, w io.Writer) *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(level) {
	case "none":
		return slog.New(slog.DiscardHandler)
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: lvl}
	if strings.EqualFold(format, "json") {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}
