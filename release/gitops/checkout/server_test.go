package checkout

import (
	"context"
	"io"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
)

// The test servers answer git-upload-pack with go-git's in-process server for
// the non-bare repository in dir. It cannot cut histories short, so they check
// transports, credentials and ref handling, not shallowness.

func uploadPackSession(dir string) (transport.UploadPackSession, error) {
	ep, err := transport.NewEndpoint("/")
	if err != nil {
		return nil, err
	}
	loader := server.NewFilesystemLoader(osfs.New(filepath.Join(dir, ".git")))
	return server.NewServer(loader).NewUploadPackSession(ep, nil)
}

// advertise writes the reference advertisement, with smart HTTP's service
// line when smartHTTP.
func advertise(ctx context.Context, dir string, smartHTTP bool, w io.Writer) error {
	sess, err := uploadPackSession(dir)
	if err != nil {
		return err
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	if smartHTTP {
		ar.Prefix = [][]byte{[]byte("# service=git-upload-pack"), pktline.Flush}
	}
	return ar.Encode(w)
}

// uploadPack reads a request from r and writes the pack it asks for to w.
func uploadPack(ctx context.Context, dir string, r io.Reader, w io.Writer) error {
	sess, err := uploadPackSession(dir)
	if err != nil {
		return err
	}
	defer sess.Close()
	req := packp.NewUploadPackRequest()
	if err := req.Decode(r); err != nil {
		return err
	}
	// go-git's server refuses depth, which the client asks for without its
	// being advertised: serve the whole history instead, after the empty list
	// of shallow commits (a flush-pkt) the client then expects.
	deepen := !req.Depth.IsZero()
	req.Depth = packp.DepthCommits(0)
	req.Capabilities.Delete(capability.Shallow)
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Close()
	if deepen {
		if err := pktline.NewEncoder(w).Flush(); err != nil {
			return err
		}
	}
	return resp.Encode(w)
}
