//go:build !unix

package agent

import "io/fs"

// checkOwner is a no-op where files have no Unix owner.
func checkOwner(path, what string, fi fs.FileInfo) error { return nil }

func groupName(fs.FileInfo) string { return "unknown" }
