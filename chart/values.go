package chart

import (
	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/cli/values"
)

// ValueOptions are the values a user gives on a command line, in Helm's flags:
// -f/--values files (or URLs), --set, --set-string, --set-file, --set-json and
// --set-literal.
type ValueOptions struct {
	ValueFiles    []string // -f/--values
	Values        []string // --set
	StringValues  []string // --set-string
	FileValues    []string // --set-file
	JSONValues    []string // --set-json
	LiteralValues []string // --set-literal
}

// Merge merges the values as Helm does: the files in order (later ones win,
// maps merged key by key), then --set-json, --set, --set-string, --set-file and
// --set-literal, each in the order given. A file may be "-" (standard input)
// or an http(s) URL.
func (o ValueOptions) Merge() (map[string]any, error) {
	helm := values.Options{
		ValueFiles:    o.ValueFiles,
		Values:        o.Values,
		StringValues:  o.StringValues,
		FileValues:    o.FileValues,
		JSONValues:    o.JSONValues,
		LiteralValues: o.LiteralValues,
	}
	return helm.MergeValues(getters())
}

// AddFlags binds the options to Helm's flag names, with Helm's help.
func (o *ValueOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVarP(&o.ValueFiles, "values", "f", []string{}, "specify values in a YAML file or a URL (can specify multiple)")
	fs.StringArrayVar(&o.Values, "set", []string{}, "set values on the command line (can specify multiple or separate values with commas: key1=val1,key2=val2)")
	fs.StringArrayVar(&o.StringValues, "set-string", []string{}, "set STRING values on the command line (can specify multiple or separate values with commas: key1=val1,key2=val2)")
	fs.StringArrayVar(&o.FileValues, "set-file", []string{}, "set values from respective files specified via the command line (can specify multiple or separate values with commas: key1=path1,key2=path2)")
	fs.StringArrayVar(&o.JSONValues, "set-json", []string{}, "set JSON values on the command line (can specify multiple or separate values with commas: key1=jsonval1,key2=jsonval2)")
	fs.StringArrayVar(&o.LiteralValues, "set-literal", []string{}, "set a literal STRING value on the command line")
}
