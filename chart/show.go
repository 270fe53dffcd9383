package chart

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"
)

// ShowWhat is what ShowChart prints of a chart.
type ShowWhat string

// What `berth show` can print.
const (
	ShowAll    ShowWhat = "all"
	ShowChart  ShowWhat = "chart"
	ShowValues ShowWhat = "values"
	ShowReadme ShowWhat = "readme"
	ShowCRDs   ShowWhat = "crds"
)

// readmeNames are the README files show looks for, case-insensitively.
var readmeNames = []string{"readme.md", "readme.txt", "readme"}

// Show writes what of ch as `helm show` does: Chart.yaml's metadata, the raw
// values.yaml (comments kept), the README, the CRDs, or all of them separated
// by "---".
func Show(w io.Writer, ch *helmchart.Chart, what ShowWhat) error {
	all := what == ShowAll
	var b strings.Builder
	if what == ShowChart || all {
		md, err := yaml.Marshal(ch.Metadata)
		if err != nil {
			return fmt.Errorf("showing Chart.yaml of %s: %w", ch.Name(), err)
		}
		fmt.Fprintf(&b, "%s\n", md)
	}
	if (what == ShowValues || all) && ch.Values != nil {
		if all {
			b.WriteString("---\n")
		}
		for _, f := range ch.Raw {
			if f.Name == chartutil.ValuesfileName {
				fmt.Fprintln(&b, string(f.Data))
			}
		}
	}
	if what == ShowReadme || all {
		if readme := findReadme(ch.Files); readme != nil {
			if all {
				b.WriteString("---\n")
			}
			fmt.Fprintf(&b, "%s\n", readme.Data)
		}
	}
	if what == ShowCRDs || all {
		crds := ch.CRDObjects()
		if len(crds) > 0 {
			if all && !bytes.HasPrefix(crds[0].File.Data, []byte("---")) {
				b.WriteString("---\n")
			}
			for _, crd := range crds {
				fmt.Fprintf(&b, "%s\n", crd.File.Data)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func findReadme(files []*helmchart.File) *helmchart.File {
	for _, f := range files {
		if f == nil {
			continue
		}
		for _, n := range readmeNames {
			if strings.EqualFold(f.Name, n) {
				return f
			}
		}
	}
	return nil
}
