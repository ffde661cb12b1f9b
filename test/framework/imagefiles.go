package framework

import (
	"archive/tar"
	"errors"
	"io"
	"path"
	"testing"
)

// ImageFile is one entry of an image's file system.
type ImageFile struct {
	Data     []byte
	Mode     int64
	UID, GID int
}

// ImageFiles reads a tar stream (a layer, or an image flattened by go-containerregistry's
// mutate.Extract) into its entries by absolute path, and closes it.
func ImageFiles(t testing.TB, r io.ReadCloser) map[string]ImageFile {
	t.Helper()
	defer r.Close()
	out := map[string]ImageFile{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[path.Clean("/"+h.Name)] = ImageFile{Data: data, Mode: h.Mode, UID: h.Uid, GID: h.Gid}
	}
}
