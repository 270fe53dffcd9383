package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/cli/output"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"

	"berth.dev/berth/release/kube"
	"berth.dev/berth/release/storage"
)

// outputFlag is -o table|json|yaml, as Helm's.
type outputFlag struct{ format output.Format }

func (o *outputFlag) addFlags(fs *pflag.FlagSet) {
	o.format = output.Table
	fs.VarP(&formatValue{&o.format}, "output", "o", "prints the output in the specified format. Allowed values: table, json, yaml")
}

type formatValue struct{ f *output.Format }

func (v *formatValue) String() string { return v.f.String() }
func (v *formatValue) Type() string   { return "format" }
func (v *formatValue) Set(s string) error {
	f, err := output.ParseFormat(s)
	if err != nil {
		return err
	}
	*v.f = f
	return nil
}

// statusWriter prints a release as `helm status` does and, with showResources,
// the live status of its objects.
type statusWriter struct {
	rel             *release.Release
	showDescription bool
	showResources   bool
	resources       []kube.ObjectStatus
}

// statusElement is a release as Helm prints it, with the live status of its
// objects beside its own fields.
type statusElement struct {
	*release.Release
	Resources []resourceElement `json:"resources"`
}

// resourceElement is the live status of one object of a release.
type resourceElement struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Message    string `json:"message"`
}

func (s statusWriter) elements() []resourceElement {
	out := make([]resourceElement, 0, len(s.resources))
	for _, r := range s.resources {
		o := r.Object
		// The columns name the object; the message need not repeat it.
		msg := strings.TrimPrefix(r.Message, o.GetKind()+" "+o.GetName()+": ")
		out = append(out, resourceElement{o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName(), string(r.Status), msg})
	}
	return out
}

func (s statusWriter) value() any {
	if !s.showResources {
		return s.rel
	}
	return statusElement{Release: s.rel, Resources: s.elements()}
}

func (s statusWriter) WriteJSON(out io.Writer) error { return output.EncodeJSON(out, s.value()) }
func (s statusWriter) WriteYAML(out io.Writer) error { return output.EncodeYAML(out, s.value()) }

func (s statusWriter) WriteTable(out io.Writer) error {
	r := s.rel
	fmt.Fprintf(out, "NAME: %s\n", r.Name)
	if !r.Info.LastDeployed.IsZero() {
		fmt.Fprintf(out, "LAST DEPLOYED: %s\n", r.Info.LastDeployed.Format(time.ANSIC))
	}
	fmt.Fprintf(out, "NAMESPACE: %s\n", r.Namespace)
	fmt.Fprintf(out, "STATUS: %s\n", r.Info.Status)
	fmt.Fprintf(out, "REVISION: %d\n", r.Version)
	if s.showDescription {
		fmt.Fprintf(out, "DESCRIPTION: %s\n", r.Info.Description)
	}
	if s.showResources {
		if err := s.writeResources(out); err != nil {
			return err
		}
	}
	tests := 0
	for _, h := range r.Hooks {
		for _, e := range h.Events {
			if e != release.HookTest || h.LastRun.StartedAt.IsZero() {
				continue
			}
			tests++
			fmt.Fprintf(out, "TEST SUITE:     %s\nLast Started:   %s\nLast Completed: %s\nPhase:          %s\n",
				h.Name, h.LastRun.StartedAt.Format(time.ANSIC), h.LastRun.CompletedAt.Format(time.ANSIC), h.LastRun.Phase)
		}
	}
	if tests == 0 {
		fmt.Fprintln(out, "TEST SUITE: None")
	}
	if r.Info.Notes != "" {
		fmt.Fprintf(out, "NOTES:\n%s\n", r.Info.Notes)
	}
	return nil
}

// writeResources prints the live status of the release's objects where Helm's
// status --show-resources prints them: before the tests and notes, which may
// run long.
func (s statusWriter) writeResources(out io.Writer) error {
	if len(s.resources) == 0 {
		_, err := fmt.Fprintln(out, "RESOURCES: None")
		return err
	}
	rows := [][]string{{"KIND", "NAMESPACE", "NAME", "STATUS", "MESSAGE"}}
	for _, e := range s.elements() {
		rows = append(rows, []string{e.Kind, e.Namespace, e.Name, e.Status, e.Message})
	}
	fmt.Fprintln(out, "RESOURCES:")
	return writeTable(out, rows)
}

// listWriter prints releases as `helm list` does.
type listWriter struct {
	releases   []storage.Summary
	noHeaders  bool
	timeFormat string
}

type listElement struct {
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Revision   string `json:"revision"`
	Updated    string `json:"updated"`
	Status     string `json:"status"`
	Chart      string `json:"chart"`
	AppVersion string `json:"app_version"`
}

func (l listWriter) elements() []listElement {
	out := make([]listElement, 0, len(l.releases))
	for _, r := range l.releases {
		updated := "-"
		if !r.Updated.IsZero() {
			if l.timeFormat != "" {
				updated = r.Updated.Format(l.timeFormat)
			} else {
				updated = r.Updated.Local().String()
			}
		}
		out = append(out, listElement{r.Name, r.Namespace, strconv.Itoa(r.Revision), updated, string(r.Status), r.Chart, r.AppVersion})
	}
	return out
}

func (l listWriter) WriteJSON(out io.Writer) error { return output.EncodeJSON(out, l.elements()) }
func (l listWriter) WriteYAML(out io.Writer) error { return output.EncodeYAML(out, l.elements()) }

func (l listWriter) WriteTable(out io.Writer) error {
	var rows [][]string
	if !l.noHeaders {
		rows = append(rows, []string{"NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION"})
	}
	for _, e := range l.elements() {
		rows = append(rows, []string{e.Name, e.Namespace, e.Revision, e.Updated, e.Status, e.Chart, e.AppVersion})
	}
	return writeTable(out, rows)
}

// historyWriter prints revisions as `helm history` does.
type historyWriter struct{ revisions []storage.Summary }

type historyElement struct {
	Revision    int           `json:"revision"`
	Updated     helmtime.Time `json:"updated"`
	Status      string        `json:"status"`
	Chart       string        `json:"chart"`
	AppVersion  string        `json:"app_version"`
	Description string        `json:"description"`
}

func (h historyWriter) elements() []historyElement {
	out := make([]historyElement, 0, len(h.revisions))
	for _, r := range h.revisions {
		out = append(out, historyElement{r.Revision, helmtime.Time{Time: r.Updated}, string(r.Status), r.Chart, r.AppVersion, r.Description})
	}
	return out
}

func (h historyWriter) WriteJSON(out io.Writer) error { return output.EncodeJSON(out, h.elements()) }
func (h historyWriter) WriteYAML(out io.Writer) error { return output.EncodeYAML(out, h.elements()) }

func (h historyWriter) WriteTable(out io.Writer) error {
	rows := [][]string{{"REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"}}
	for _, e := range h.elements() {
		rows = append(rows, []string{strconv.Itoa(e.Revision), e.Updated.Format(time.ANSIC), e.Status, e.Chart, e.AppVersion, e.Description})
	}
	return writeTable(out, rows)
}
