package gitops

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Manifests are the objects found under a directory of a checkout.
type Manifests struct {
	// Releases are in file order, their namespace defaulted.
	Releases   []*Release
	Namespaces []*corev1.Namespace
}

// onlyKinds ends the error about a manifest of any other kind.
const onlyKinds = "only Release (berth.dev/v1) and Namespace (v1) manifests are applied"

// ReadManifests reads the Release and Namespace manifests of every .yaml,
// .yml and .json file under root/dir (dir relative to root, "" for root
// itself), in lexical order. Hidden files and directories are skipped, and
// so are chart directories (holding a Chart.yaml: their templates are not
// manifests) and the values files that a Release's valuesFrom names.
// Releases without a namespace get defaultNamespace and every Release is
// validated against root. On any problem it returns them all, joined, each
// naming its file relative to root, so that a broken commit is reported
// whole.
func ReadManifests(root, dir, defaultNamespace string) (*Manifests, error) {
	start := root
	if dir != "" {
		if !filepath.IsLocal(dir) {
			return nil, fmt.Errorf("reading manifests: directory %q must be relative to the repository's root, without \"..\"", dir)
		}
		if _, err := inRoot(root, dir); err != nil {
			return nil, fmt.Errorf("reading manifests: %w", err)
		}
		// Joined, not resolved, so that paths relative to root name files.
		start = filepath.Join(root, dir)
	}
	if info, err := os.Stat(start); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("reading manifests: no directory %q in the repository", dir)
	}

	files, problems := manifestFiles(root, start)
	var docs []parsedDoc
	for _, file := range files {
		d, err := readManifestFile(root, file, defaultNamespace)
		if err != nil {
			problems = append(problems, err)
		}
		docs = append(docs, d...)
	}

	// A values file next to the Release using it is no manifest.
	valuesFiles := map[string]bool{}
	for _, d := range docs {
		if d.release == nil {
			continue
		}
		for _, ref := range d.release.Spec.ValuesFrom {
			if ref.Kind == "File" && filepath.IsLocal(ref.Name) {
				valuesFiles[filepath.ToSlash(filepath.Clean(ref.Name))] = true
			}
		}
	}

	m := &Manifests{}
	releases := map[string]location{}
	namespaces := map[string]location{}
	for _, d := range docs {
		if valuesFiles[d.src.file] {
			continue
		}
		switch {
		case len(d.errs) > 0:
			for _, e := range d.errs {
				problems = append(problems, fmt.Errorf("%s: %w", d.src, e))
			}
		case d.release != nil:
			rel := d.release
			if err := rel.Validate(root); err != nil {
				for _, e := range unjoin(err) {
					problems = append(problems, fmt.Errorf("%s: %w", d.src, e))
				}
			}
			k := rel.Namespace + "/" + rel.Name
			if first, ok := releases[k]; ok {
				problems = append(problems, fmt.Errorf("%s: Release %s is also declared in %s: names must be unique in a namespace", d.src, k, first))
				continue
			}
			releases[k] = d.src
			m.Releases = append(m.Releases, rel)
		case d.namespace != nil:
			ns := d.namespace
			if first, ok := namespaces[ns.Name]; ok {
				problems = append(problems, fmt.Errorf("%s: Namespace %s is also declared in %s", d.src, ns.Name, first))
				continue
			}
			namespaces[ns.Name] = d.src
			m.Namespaces = append(m.Namespaces, ns)
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return m, nil
}

// location locates a document: its file, relative to the repository's root
// and with forward slashes, and its number when the file holds several.
type location struct {
	file      string
	doc, docs int
}

func (s location) String() string {
	if s.docs > 1 {
		return fmt.Sprintf("%s (document %d)", s.file, s.doc)
	}
	return s.file
}

// parsedDoc is one document of a file: a Release, a Namespace or why it is
// neither.
type parsedDoc struct {
	src       location
	release   *Release
	namespace *corev1.Namespace
	errs      []error
}

// manifestFiles lists the files under start that may hold manifests, and
// the problems met on the way.
func manifestFiles(root, start string) ([]string, []error) {
	var files []string
	var problems []error
	walk := func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", repoPath(root, p), err))
			return nil
		}
		hidden := p != start && strings.HasPrefix(d.Name(), ".")
		if d.IsDir() {
			if hidden {
				return fs.SkipDir
			}
			if _, err := os.Lstat(filepath.Join(p, "Chart.yaml")); err == nil {
				return fs.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		if hidden {
			return nil
		}
		switch {
		case d.Type().IsRegular():
			files = append(files, p)
		case d.Type()&fs.ModeSymlink != 0:
			// WalkDir does not follow links; a linked file is read when it
			// stays in the repository.
			target, err := inRoot(root, repoPath(root, p))
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", repoPath(root, p), err))
			} else if info, err := os.Stat(target); err == nil && info.Mode().IsRegular() {
				files = append(files, p)
			}
		}
		return nil
	}
	// walk records every problem itself and never ends the walk early.
	_ = filepath.WalkDir(start, walk)
	return files, problems
}

func repoPath(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(r)
}

// readManifestFile decodes the documents of a file, empty ones left out. The error
// is for a file that cannot be read or split into documents at all.
func readManifestFile(root, path, defaultNamespace string) ([]parsedDoc, error) {
	name := repoPath(root, path)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var docs []parsedDoc
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: splitting YAML documents: %w", name, err)
		}
		j, err := yaml.YAMLToJSONStrict(doc)
		switch {
		case err != nil:
			// Numbered among the others so that the error says which.
			docs = append(docs, parsedDoc{errs: []error{fmt.Errorf("invalid YAML: %w", err)}})
		case !bytes.Equal(bytes.TrimSpace(j), []byte("null")):
			docs = append(docs, decodeManifest(j, defaultNamespace))
		}
	}
	for i := range docs {
		docs[i].src = location{file: name, doc: i + 1, docs: len(docs)}
	}
	return docs, nil
}

// decodeManifest decodes one document, in JSON, strictly: a field the type does
// not have is an error naming the field.
func decodeManifest(j []byte, defaultNamespace string) parsedDoc {
	var head metav1.PartialObjectMetadata
	if err := json.Unmarshal(j, &head); err != nil {
		return parsedDoc{errs: []error{fmt.Errorf("not a Kubernetes object with apiVersion, kind and metadata: %w", err)}}
	}
	switch {
	case head.APIVersion == APIVersion && head.Kind == KindRelease:
		if head.Namespace == "" {
			head.Namespace = defaultNamespace
		}
		rel := &Release{}
		if errs := decodeStrict(j, rel, fmt.Sprintf("Release %s/%s", head.Namespace, head.Name)); len(errs) > 0 {
			return parsedDoc{errs: errs}
		}
		rel.Namespace = head.Namespace
		return parsedDoc{release: rel}
	case head.APIVersion == "v1" && head.Kind == "Namespace":
		ns := &corev1.Namespace{}
		if errs := decodeStrict(j, ns, "Namespace "+head.Name); len(errs) > 0 {
			return parsedDoc{errs: errs}
		}
		v := &validator{object: "Namespace " + ns.Name}
		v.label("metadata.name", ns.Name)
		if len(v.errs) > 0 {
			return parsedDoc{errs: v.errs}
		}
		return parsedDoc{namespace: ns}
	case head.Kind == "":
		return parsedDoc{errs: []error{fmt.Errorf("no kind: %s (a values file is skipped when a Release's valuesFrom names it)", onlyKinds)}}
	default:
		return parsedDoc{errs: []error{fmt.Errorf("%s %q (%s): %s", head.Kind, head.Name, head.APIVersion, onlyKinds)}}
	}
}

// decodeStrict decodes JSON into a typed object, refusing unknown and duplicate
// fields; each problem is prefixed with object.
func decodeStrict(j []byte, into any, object string) []error {
	strictErrs, err := sigsjson.UnmarshalStrict(j, into)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", object, err)}
	}
	errs := make([]error, len(strictErrs))
	for i, e := range strictErrs {
		errs[i] = fmt.Errorf("%s: %w", object, e)
	}
	return errs
}

// unjoin returns the errors err joins, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
