package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/cli/output"

	"berth.dev/berth/chart"
	"berth.dev/berth/kubelet/agent"
	"berth.dev/berth/kubelet/images"
	"berth.dev/berth/registry/imagepush"
)

const imageLong = `Manage the images of this node's image store, the one its kubelet runs
containers from, as k3s's ctr and crictl do on a k3s node.

The store of a berth server or agent started with --data-dir DIR is
DIR/agent/images. It is safe to change while the node runs: an imported
image is visible to the kubelet at once. Pulls use the mirrors and
credentials of DIR/registries.yaml (k3s's format) when that file exists.`

// imageStoreDir is where a berth server or agent started with --data-dir
// dataDir keeps the node's image store; the kubelet and `berth image` open it
// there.
func imageStoreDir(dataDir string) string { return agent.ImagesDir(agentDir(dataDir)) }

// registriesFile is the node's registries.yaml (mirrors and credentials for
// pulls, in k3s's format) under its data dir.
func registriesFile(dataDir string) string { return filepath.Join(dataDir, "registries.yaml") }

// loadRegistries reads the mirrors and credentials for pulls from path; with
// path empty, from the data dir's registries.yaml, whose absence means no
// mirrors. A path given explicitly must exist.
func loadRegistries(dataDir, path string) (images.Registries, error) {
	if path != "" {
		return images.LoadRegistries(path)
	}
	r, err := images.LoadRegistries(registriesFile(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return images.Registries{}, nil
	}
	return r, err
}

// imageFlags are the flags every `berth image` command shares.
type imageFlags struct {
	dataDir string
}

// open opens the node's image store. Only commands that add images create
// it: listing or removing from a store that is not there is a mistyped
// --data-dir more often than an empty node.
func (f *imageFlags) open(create bool, regs images.Registries) (*images.Store, error) {
	dir := imageStoreDir(f.dataDir)
	if !create {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no image store under --data-dir %s (berth server, image import and image pull make it): %w", f.dataDir, err)
		} else if err != nil {
			return nil, fmt.Errorf("opening image store: %w", err)
		}
	}
	return images.New(images.Config{Root: dir, Registries: regs})
}

func newImageCommand() *cobra.Command {
	f := &imageFlags{}
	cmd := &cobra.Command{
		Use:   "image import|ls|rm|pull|push|prune",
		Short: "Manage the images of this node's image store",
		Long:  imageLong,
		Args:  cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&f.dataDir, "data-dir", "/var/lib/berth", "data directory of the node's berth server or agent; the image store is in agent/images under it")
	cmd.AddCommand(newImageImportCommand(f), newImageListCommand(f), newImageRemoveCommand(f), newImagePullCommand(f), newImagePushCommand(f), newImagePruneCommand(f))
	return cmd
}

func newImageImportCommand(f *imageFlags) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "import PATH...",
		Short: "Import images from OCI layouts or image archives",
		Long: `Import the images of each PATH: an OCI image layout directory, a tar of one
(optionally gzip or zstd compressed), or a 'docker save' archive. PATH - reads
a tar from standard input. Images keep the names the archive gives them
(normalised: bars/hello:v1 is docker.io/bars/hello:v1) unless --name names
the one image of a single PATH. Every image imported is printed as

    imported NAME (IMAGE ID)`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []images.ImportOption
			if name != "" {
				if len(args) > 1 {
					return fmt.Errorf("--name %s names one image: give it a single PATH", name)
				}
				if _, err := images.NormalizeName(name); err != nil {
					return fmt.Errorf("--name: %w", err)
				}
				opts = append(opts, images.WithName(name))
			}
			stdin := 0
			for _, src := range args {
				if src == "-" {
					stdin++
				}
			}
			if stdin > 1 {
				return errors.New("standard input (-) can be imported only once")
			}
			store, err := f.open(true, images.Registries{})
			if err != nil {
				return err
			}
			var errs []error
			for _, src := range args {
				imgs, err := importImages(cmd.Context(), store, cmd.InOrStdin(), src, opts)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				for _, img := range imgs {
					if _, err := fmt.Fprintf(cmd.OutOrStdout(), "imported %s (%s)\n", img.Name, img.ID()); err != nil {
						return err
					}
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the imported image, instead of the name in the archive (the archive must hold one image)")
	return cmd
}

// importImages imports src, or the tar on stdin for "-".
func importImages(ctx context.Context, store *images.Store, stdin io.Reader, src string, opts []images.ImportOption) ([]images.Image, error) {
	if src != "-" {
		return store.Import(ctx, src, opts...)
	}
	imgs, err := store.ImportArchive(ctx, stdin, opts...)
	if err != nil {
		return nil, fmt.Errorf("importing standard input: %w", err)
	}
	return imgs, nil
}

func newImageListCommand(f *imageFlags) *cobra.Command {
	var quiet bool
	var out outputFlag
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the images of the store",
		Long: `List the images of the store, sorted by name, as crictl images does: the
repository, tag, image id (the digest of the image config; 12 hex digits in
the table) and the size of the image's manifest, config and layers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := f.open(false, images.Registries{})
			if err != nil {
				return err
			}
			imgs, err := store.List(cmd.Context())
			if err != nil {
				return fmt.Errorf("listing images: %w", err)
			}
			if quiet {
				for _, img := range imgs {
					if _, err := fmt.Fprintln(cmd.OutOrStdout(), img.Name); err != nil {
						return err
					}
				}
				return nil
			}
			return out.format.Write(cmd.OutOrStdout(), imageListWriter{imgs})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the names of the images")
	out.addFlags(cmd.Flags())
	return cmd
}

// imageListWriter prints images as crictl images does.
type imageListWriter struct{ images []images.Image }

type imageListElement struct {
	Name       string    `json:"name"`
	Repository string    `json:"repository"`
	Tag        string    `json:"tag"`
	ID         string    `json:"id"`
	RepoDigest string    `json:"repoDigest"`
	Size       int64     `json:"size"`
	Stored     time.Time `json:"stored"`
}

func (l imageListWriter) elements() []imageListElement {
	out := make([]imageListElement, 0, len(l.images))
	for _, img := range l.images {
		repo, tag := splitImageName(img.Name)
		out = append(out, imageListElement{img.Name, repo, tag, img.ID().String(), img.RepoDigest(), img.Size, img.Stored})
	}
	return out
}

func (l imageListWriter) WriteJSON(out io.Writer) error { return output.EncodeJSON(out, l.elements()) }
func (l imageListWriter) WriteYAML(out io.Writer) error { return output.EncodeYAML(out, l.elements()) }

func (l imageListWriter) WriteTable(out io.Writer) error {
	rows := [][]string{{"IMAGE", "TAG", "IMAGE ID", "SIZE"}}
	for _, e := range l.elements() {
		rows = append(rows, []string{e.Repository, e.Tag, shortImageID(e.ID), humanSize(e.Size)})
	}
	return writeTable(out, rows)
}

// splitImageName splits a normalised name into its repository and tag; an
// image named by digest has no tag (<none>, as crictl prints it).
func splitImageName(name string) (repo, tag string) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name, "<none>"
	}
	if t, ok := named.(reference.Tagged); ok {
		return named.Name(), t.Tag()
	}
	return named.Name(), "<none>"
}

// shortImageID is the first 12 hex digits of an image id (sha256:...), or
// <none> for an image whose config cannot be read.
func shortImageID(id string) string {
	d := digest.Digest(id)
	if d.Validate() != nil {
		return "<none>"
	}
	return d.Encoded()[:12]
}

// humanSize prints a size in bytes with three significant digits in decimal
// units, as docker and crictl do (1.23MB).
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	v, i := float64(n), 0
	// 999.5 and above would round to "1e+03" with three digits: take the next unit.
	for v >= 999.5 && i < len(units)-1 {
		v /= 1000
		i++
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + units[i]
}

func newImageRemoveCommand(f *imageFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rm REF...",
		Aliases: []string{"remove"},
		Short:   "Remove images from the store",
		Long: `Remove the names REF (bars/hello:v1 is docker.io/bars/hello:v1) from the store,
then delete the blobs and unpacked layers nothing references any more (layers
that containers' root filesystems use stay). A name that is not in the store
is an error, and the others are still removed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := f.open(false, images.Registries{})
			if err != nil {
				return err
			}
			var errs []error
			removed := 0
			for _, ref := range args {
				if err := store.Remove(cmd.Context(), ref); err != nil {
					errs = append(errs, err)
					continue
				}
				removed++
				name, _ := images.NormalizeName(ref) // Remove has parsed it
				if _, err := fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", name); err != nil {
					return err
				}
			}
			if removed > 0 {
				if err := collectImageGarbage(cmd.Context(), cmd.OutOrStdout(), store); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	return cmd
}

func newImagePullCommand(f *imageFlags) *cobra.Command {
	var dockerConfig, registries string
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Pull an image into the store",
		Long: `Pull REF (bars/hello:v1 is docker.io/bars/hello:v1) for this node's platform,
from the registry's mirrors in registries.yaml, then the registry itself
(over plain HTTP for a registry on this machine, such as berth server's:
127.0.0.1:5000/app:1), and print

    pulled NAME (IMAGE ID)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			regs, err := loadRegistries(f.dataDir, registries)
			if err != nil {
				return err
			}
			var opts []images.PullOption
			if dockerConfig != "" {
				b, err := os.ReadFile(dockerConfig)
				if err != nil {
					return fmt.Errorf("reading --docker-config: %w", err)
				}
				opts = append(opts, images.WithDockerConfig(b))
			}
			store, err := f.open(true, regs)
			if err != nil {
				return err
			}
			img, err := store.Pull(cmd.Context(), args[0], opts...)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "pulled %s (%s)\n", img.Name, img.ID())
			return err
		},
	}
	cmd.Flags().StringVar(&dockerConfig, "docker-config", "", "docker config JSON file with registry credentials (as an imagePullSecret's .dockerconfigjson)")
	cmd.Flags().StringVar(&registries, "registries", "", "registries.yaml with mirrors and credentials (default: registries.yaml in --data-dir, if it exists)")
	return cmd
}

func newImagePushCommand(f *imageFlags) *cobra.Command {
	var o imagepush.Options
	cmd := &cobra.Command{
		Use:   "push SOURCE HOST/REPO:TAG",
		Short: "Push an image to an OCI registry",
		Long: `Push SOURCE to the registry as HOST/REPO:TAG, every blob, the manifest and
the index if there is one, keeping their digests. SOURCE is an OCI image
layout directory, a tar of one (optionally gzip or zstd compressed) or a
'docker save' archive holding one image; if no such file exists, SOURCE is
the name of an image in the node's store (--data-dir). An image the store
pulled from an index holds only this node's platform: its platform manifest
is pushed, not the index. Prints

    pushed HOST/REPO:TAG (DIGEST)

Credentials come from --username and --password, else from berth's registry
config ('berth registry login', $BERTH_REGISTRY_CONFIG). A registry on this
machine without TLS, such as the one berth server runs, needs --plain-http:

    berth image push ./app.tar 127.0.0.1:5000/app:1 --plain-http`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, dst := args[0], args[1]
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			o.CredentialsFile = settings.RegistryConfig
			var res imagepush.Result
			if _, statErr := os.Stat(src); statErr == nil {
				res, err = imagepush.PushArchive(cmd.Context(), src, dst, o)
			} else {
				store, openErr := f.open(false, images.Registries{})
				if openErr != nil {
					return fmt.Errorf("%s is neither a file nor a directory (%w), and %w", src, statErr, openErr)
				}
				res, err = imagepush.PushImage(cmd.Context(), store, src, dst, o)
			}
			if err != nil {
				return err
			}
			if res.PlatformOnly {
				if _, err := fmt.Fprintf(cmd.ErrOrStderr(), "the store holds only this platform's manifest of %s: pushing that, not its index\n", src); err != nil {
					return err
				}
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "pushed %s (%s)\n", res.Reference, res.Descriptor.Digest)
			return err
		},
	}
	flags := cmd.Flags()
	flags.BoolVar(&o.PlainHTTP, "plain-http", false, "use insecure HTTP connections to the registry")
	flags.BoolVar(&o.InsecureSkipTLSVerify, "insecure-skip-tls-verify", false, "skip tls certificate checks of the registry")
	flags.StringVar(&o.Username, "username", "", "registry username")
	flags.StringVar(&o.Password, "password", "", "registry password")
	return cmd
}

func newImagePruneCommand(f *imageFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "prune",
		Short: "Delete the blobs and unpacked layers no image uses",
		Long: `Delete the blobs no image name references (left behind by re-tagged or
removed images) and the unpacked layers neither an image nor a container's
root filesystem uses, and print what was deleted:

    deleted N blobs (SIZE) and M unpacked layers

SIZE counts the blobs; the unpacked layers' size is not measured. Images
themselves are kept: remove them with 'berth image rm'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := f.open(false, images.Registries{})
			if err != nil {
				return err
			}
			return collectImageGarbage(cmd.Context(), cmd.OutOrStdout(), store)
		},
	}
}

// collectImageGarbage runs the store's GC and prints what it deleted.
func collectImageGarbage(ctx context.Context, out io.Writer, store *images.Store) error {
	res, err := store.GC(ctx)
	if err != nil {
		return fmt.Errorf("deleting unused image content: %w", err)
	}
	_, err = fmt.Fprintf(out, "deleted %s (%s) and %s\n", plural(res.Blobs, "blob", "blobs"), humanSize(res.Bytes), plural(res.Layers, "unpacked layer", "unpacked layers"))
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
