package certs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// dataLink is the symbolic link to the directory holding the current files, as the kubelet
// lays out a mounted Secret: DIR/tls.crt -> ..data/tls.crt, DIR/..data -> ..tls_NNN.
const dataLink = "..data"

// WriteFiles replaces the files in dir (name -> content) in one step: the new contents go to a
// fresh hidden directory and the ..data link is renamed onto it, so that a reader (such as
// controller-runtime's certwatcher, which watches tls.crt and tls.key and rereads both) never
// sees a new certificate with an old key. Files named *.key are readable by the owner only.
func WriteFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ts, err := os.MkdirTemp(dir, "..tls_")
	if err != nil {
		return err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return err
	}
	for name, data := range files {
		if strings.ContainsRune(name, filepath.Separator) || strings.HasPrefix(name, "..") {
			_ = os.RemoveAll(ts)
			return fmt.Errorf("bad file name %q", name)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".key") {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(ts, name), data, mode); err != nil {
			_ = os.RemoveAll(ts)
			return err
		}
	}
	link := filepath.Join(dir, dataLink)
	old, _ := os.Readlink(link)
	if err := replaceSymlink(filepath.Base(ts), link); err != nil {
		_ = os.RemoveAll(ts)
		return err
	}
	for name := range files {
		target := filepath.Join(dataLink, name)
		if cur, err := os.Readlink(filepath.Join(dir, name)); err == nil && cur == target {
			continue
		}
		if err := replaceSymlink(target, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	if old != "" && old != filepath.Base(ts) && strings.HasPrefix(old, "..tls_") {
		// Removing the old files is what tells an inotify watch on them that they changed.
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			return err
		}
	}
	// Directories left by an earlier process that stopped half-way.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..tls_") && e.Name() != filepath.Base(ts) {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// replaceSymlink points path at target atomically (a new link renamed over the old path).
func replaceSymlink(target, path string) error {
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
